"""The board's "call next" per counter says what it will do there (one patient per
counter), "complete" works on a patient who was only called, and a refresh that fails while
the server is down shows as "offline", never as an action that was not sent."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser, Page, Route, expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_console import make_queue
from tests.conftest import Api


async def test_call_next_at_a_busy_counter(page: Page, api: Api) -> None:
    await make_queue(api)
    for name in ("Ana Lima", "Bo Chen", "Cy Okafor"):
        body = {"name": name}
        assert (await api.call("POST", "/api/v1/queues/PHARM/tickets", json=body)).is_success
    await log_in(page, api, "staff")
    await expect(page.locator(".live-state")).to_have_attribute("data-state", "live")
    to_2 = page.locator("button.call-next-button[data-counter='2']")
    await expect(to_2).to_have_text("Call next → counter 2")
    await to_2.click()

    # A-001 was called to counter 2 and has not arrived: no second patient is sent there
    await expect(to_2).to_be_disabled()
    await expect(to_2).to_have_attribute("data-plan", "busy")
    await expect(to_2.locator(".why")).to_contain_text("A-001 called, not here yet")
    await expect(page.locator("button.call-next-button[data-counter='1']")).to_be_enabled()
    await screenshot(page, "console-counter-busy")

    row = page.locator("table.at-counters tbody tr", has_text="A-001")
    await row.get_by_role("button", name="Start").click()
    await expect(to_2).to_be_enabled()
    await expect(to_2).to_contain_text("Finish A-001 & call next → counter 2")
    await to_2.click()
    at_counters = page.locator("table.at-counters tbody tr")
    await expect(at_counters).to_have_count(1)
    await expect(at_counters.first).to_contain_text("A-002")
    done = (await api.call("GET", "/api/v1/queues/PHARM/status")).json()
    assert [t["number"] for t in done["serving"]] == ["A-002"]

    # Complete on A-002, only called: started and completed at once, both in its history
    href = await at_counters.first.locator("td.number a").get_attribute("href")
    await at_counters.first.get_by_role("button", name="Complete").click()
    await expect(page.locator("table.at-counters")).to_have_count(0)
    await page.goto(f"{api.base_url}{href}")
    history = page.locator("table.history")
    await expect(history).to_contain_text("ticket started")
    await expect(history).to_contain_text("ticket completed")


async def test_offline_is_not_an_action_that_failed(page: Page, api: Api) -> None:
    await make_queue(api)
    assert (await api.call("POST", "/api/v1/queues/PHARM/tickets", json={})).is_success
    refusing = False

    async def websocket(ws):  # type: ignore[no-untyped-def]
        if refusing:
            await ws.close()
            return
        ws.connect_to_server()
        sockets.append(ws)

    async def http(route: Route) -> None:
        if refusing:
            await route.abort("connectionrefused")
        else:
            await route.continue_()

    sockets: list = []  # type: ignore[type-arg]
    await page.route_web_socket("**/ws/queues/**", websocket)
    await log_in(page, api, "staff")
    state = page.locator(".live-state")
    await expect(state).to_have_attribute("data-state", "live")
    await page.route("**/console/queues/**", http)
    await page.route("**/api/v1/**", http)

    # The server goes away: the websocket drops and every 2 s poll fails
    refusing = True
    for ws in sockets:
        await ws.close()
    await expect(state).to_have_attribute("data-state", "offline")
    await expect(state).to_have_attribute("data-reachable", "no", timeout=5000)
    await expect(state).to_contain_text("cannot reach the server")
    toast = page.locator("#toast")
    for _ in range(5):  # polls keep failing for a few seconds: nobody clicked anything
        await asyncio.sleep(1)
        assert await toast.is_hidden()

    # A click that cannot be sent does say so
    await page.locator("button.call-next-button[data-counter='1']").click()
    await expect(toast).to_be_visible()
    await expect(toast).to_contain_text("your action was not sent")
    await page.evaluate("document.getElementById('toast').hidden = true")

    # Back: live again, and no message about an action nobody took
    refusing = False
    await expect(state).to_have_attribute("data-state", "live", timeout=6000)
    await expect(state).to_have_attribute("data-reachable", "yes")
    await expect(state).to_have_text("● live")
    await asyncio.sleep(2.5)
    assert await toast.is_hidden()


async def test_the_board_is_cards_on_a_phone(browser: Browser, api: Api) -> None:
    await make_queue(api)
    for i, name in enumerate(("Ana Lima", "Bo Chen", "Cy Okafor")):
        body = {"name": name, "priority": 2 if i == 1 else 0, "phone": f"+1555123000{i}"}
        assert (await api.call("POST", "/api/v1/queues/PHARM/tickets", json=body)).is_success
    await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    try:
        phone = await context.new_page()
        await log_in(phone, api, "staff")
        rows = phone.locator("table.waiting tbody tr")
        await expect(rows).to_have_count(2)
        # nothing wider than the screen, and each ticket a card naming its cells
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert await phone.locator("table.waiting thead").is_hidden()
        # Read in one go in the page: the board may be redrawn between two reads.
        await phone.wait_for_function(
            """() => {
                const row = document.querySelector("table.waiting tbody tr");
                const eta = row && row.querySelector("td[data-label=ETA]");
                return !!eta && getComputedStyle(row).display === "block"
                    && getComputedStyle(eta, "::before").content === '"ETA"';
            }""",
            timeout=5000,
        )
        await expect(rows.first.locator("td[data-label=Priority]")).to_have_text("urgent")
        await screenshot(phone, "console-phone")
    finally:
        await context.close()
