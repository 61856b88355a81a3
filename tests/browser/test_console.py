"""The queue board in a real browser: walk-ins, calls, no-shows, two staff at once, and a
websocket that dies."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import log_in, screenshot
from tests.conftest import Api


async def make_queue(api: Api, code: str = "PHARM", counters: tuple[str, ...] = ("1", "2")) -> None:
    response = await api.call(
        "POST",
        "/api/v1/queues",
        json={"code": code, "name": "Pharmacy", "prefix": "A", "counters": list(counters)},
    )
    assert response.status_code == 201, response.text


async def add_walk_in(page: Page, name: str, phone: str = "") -> None:
    form = page.locator("form.walk-in")
    await form.locator("input[name=name]").fill(name)
    await form.locator("input[name=phone]").fill(phone)
    await form.locator("button[type=submit]").click()


async def test_walk_in_call_no_show_return(page: Page, api: Api) -> None:
    await make_queue(api)
    await log_in(page, api, "staff")
    await expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
    await add_walk_in(page, "Ana Lima", "+1 555 123 0009")
    await expect(page.locator("form.walk-in .notice")).to_contain_text("Added A-001")
    waiting = page.locator("table.waiting tbody tr")
    await expect(waiting).to_have_count(1)
    await expect(waiting.first).to_contain_text("Ana Lima")
    await expect(waiting.first).to_contain_text("SMS")

    await page.get_by_role("button", name="Call next → counter 2").click()
    called = page.locator("table.at-counters tbody tr")
    await expect(called).to_have_count(1)
    await expect(called.first).to_contain_text("A-001")
    await expect(page.locator("table.waiting")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    await called.first.get_by_role("button", name="No-show").click()
    missed = page.locator("table.missed tbody tr")
    await expect(missed).to_have_count(1)
    await missed.first.get_by_role("button", name="Return").click()
    await expect(page.locator("table.waiting tbody tr")).to_have_count(1)
    await expect(page.locator("table.missed")).to_have_count(0)

    # The ticket's history names the staff member behind every step.
    await page.locator("table.waiting td.number a").click()
    history = page.locator("table.history")
    await expect(history).to_contain_text("ticket marked no show")
    await expect(history.locator("td.staff").first).to_have_text("staff-user")


async def test_two_staff_see_each_other(browser: Browser, page: Page, api: Api) -> None:
    await make_queue(api)
    await log_in(page, api, "staff")
    other = await browser.new_context()
    try:
        colleague = await other.new_page()
        await log_in(colleague, api, "pharmacist")
        for p in (page, colleague):
            await expect(p.locator(".live-state")).to_have_attribute("data-state", "live")
        await add_walk_in(page, "Bo Chen")
        await expect(colleague.locator("table.waiting tbody tr")).to_have_count(1, timeout=1000)
        await colleague.get_by_role("button", name="Call next → counter 1").click()
        await expect(page.locator("table.at-counters tbody tr")).to_contain_text(
            "Bo Chen", timeout=1000
        )
    finally:
        await other.close()


async def test_walk_in_errors_are_shown_next_to_the_field(page: Page, api: Api) -> None:
    await make_queue(api)
    await log_in(page, api, "staff")
    await add_walk_in(page, "Cy", "12")
    error = page.locator("form.walk-in .field-error")
    await expect(error).to_contain_text("phone")
    await expect(page.locator("form.walk-in input[name=name]")).to_have_value("Cy")
    status = (await api.call("GET", "/api/v1/queues/PHARM/status")).json()
    assert status["size"] == 0


async def test_board_recovers_when_the_websocket_dies(page: Page, api: Api) -> None:
    await make_queue(api)
    sockets = []
    refusing = False

    async def route(ws):  # type: ignore[no-untyped-def]
        if refusing:
            await ws.close()
            return
        ws.connect_to_server()
        sockets.append(ws)

    await page.route_web_socket("**/ws/queues/**", route)
    await log_in(page, api, "staff")
    state = page.locator(".live-state")
    await expect(state).to_have_attribute("data-state", "live")

    refusing = True
    for ws in sockets:
        await ws.close()
    await expect(state).to_have_attribute("data-state", "offline")
    # While the websocket is down the board polls: a join made elsewhere still shows.
    joined = await api.call("POST", "/api/v1/queues/PHARM/tickets", json={"name": "Di"})
    assert joined.status_code == 201
    await expect(page.locator("table.waiting tbody tr")).to_have_count(1, timeout=4000)

    refusing = False
    await expect(state).to_have_attribute("data-state", "live", timeout=4000)
    await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
    await expect(page.locator("table.at-counters tbody tr")).to_have_count(1, timeout=1000)


async def test_screenshot_of_a_busy_board(page: Page, api: Api) -> None:
    await make_queue(api)
    names = ["Ana Lima", "Bo Chen", "Cy Okafor", "Di Rossi", "Ed Novak", "Fay Haddad"]
    for i, name in enumerate(names):
        body = {"name": name, "priority": 2 if i == 3 else 0}
        body |= {"phone": f"+1555123000{i}"} if i % 2 else {"telegram_chat_id": 1000 + i}
        assert (await api.call("POST", "/api/v1/queues/PHARM/tickets", json=body)).is_success
        api.app.ctx.container.clock.advance(minutes=4)
    called = await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
    await api.call("POST", f"/api/v1/tickets/{called.json()['id']}/start")
    await log_in(page, api, "admin")
    await expect(page.locator("table.waiting tbody tr")).to_have_count(len(names) - 1)
    await expect(page.locator("button.call-next-button[data-counter='1']")).to_contain_text(
        "Finish A-001 & call next"
    )
    await screenshot(page, "console")
