"""A patient's ticket page on a phone, in a real browser: live position and ETA, "I'm
running late" and "Leave the queue", nothing about any other patient, and forms that work
without JavaScript and cannot be posted from another site."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import record_frames, screenshot
from tests.conftest import Api
from tests.patient_tokens import with_token

API = "/api/v1"
PHONE = {"width": 360, "height": 740}
PATIENTS = (
    ("Zebulon Quixote", "+15557770101"),
    ("Philippa Marchbanks", "+15557770102"),
    ("Oswaldo Pennyfeather", "+15557770103"),
)


async def pharmacy(api: Api) -> list[dict[str, Any]]:
    body = {
        "code": "PHARM",
        "name": "Pharmacy",
        "public_name": "Pharmacy",
        "prefix": "A",
        "counters": ["1", "2"],
    }
    assert (await api.call("POST", f"{API}/queues", json=body)).status_code == 201
    tickets = []
    for name, phone in PATIENTS:
        joined = await api.call(
            "POST", f"{API}/queues/PHARM/tickets", json={"name": name, "phone": phone}
        )
        assert joined.status_code == 201, joined.text
        tickets.append(await with_token(joined.json()))
    return tickets


async def ticket(api: Api, ticket_id: str) -> dict[str, Any]:
    response = await api.call("GET", f"{API}/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def phone_context(browser: Browser, javascript: bool = True) -> BrowserContext:
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=javascript
    )
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    context = await phone_context(browser)
    yield await context.new_page()
    await context.close()


async def test_live_position_late_and_leave(phone: Page, api: Api) -> None:
    tickets = await pharmacy(api)
    mine, others = tickets[1], [tickets[0], tickets[2]]
    frames = record_frames(phone)
    await phone.goto(f"{api.base_url}/t/{mine['token']}")

    await expect(phone.locator("#number")).to_have_text("A-002")
    await expect(phone.locator("#state")).to_have_text("Waiting")
    await expect(phone.locator("#position")).to_have_text("Position 2 in line")
    # two counters free: a wait within the minute, in words
    await expect(phone.locator("#eta")).to_have_text("Less than a minute")
    await expect(phone.locator("#conn")).to_have_attribute("data-state", "live")

    called = await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "1"})
    assert called.json()["number"] == "A-001"
    await expect(phone.locator("#position")).to_have_text("You are next")
    await screenshot(phone, "patient")

    await phone.locator("summary", has_text="I'm running late").click()
    await phone.get_by_role("button", name="10 min", exact=True).click()
    await expect(phone.locator(".flash-message")).to_contain_text("moved back in line")
    await expect(phone.locator("#position")).to_have_text("Position 2 in line")
    after_late = await ticket(api, mine["id"])
    assert after_late["position"] == 2 and after_late["late_count"] == 1

    # The patient behind is now ahead, and is called: this page moves up by itself.
    called = await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "2"})
    assert called.json()["number"] == "A-003"
    await expect(phone.locator("#position")).to_have_text("You are next")

    await phone.locator("summary", has_text="Leave the queue").click()
    await phone.get_by_role("button", name="Yes, leave the queue").click()
    await expect(phone.locator("#state")).to_have_text("Cancelled \u2013 you left the queue")
    await expect(phone.locator("#actions")).to_be_hidden()
    assert (await ticket(api, mine["id"]))["status"] == "cancelled"

    html = await phone.content()
    assert frames and all(json.loads(f)["type"] in ("ticket", "ping", "pong") for f in frames)
    secrets = [o["number"] for o in others] + [o["token"] for o in others]
    secrets += [s for patient in PATIENTS for s in patient] + [t["id"] for t in tickets]
    for secret in secrets:
        assert secret not in html, secret
        assert not [f for f in frames if secret in f], secret


async def test_called_shows_the_counter_live(phone: Page, api: Api) -> None:
    tickets = await pharmacy(api)
    await phone.goto(f"{api.base_url}/t/{tickets[0]['token']}")
    await expect(phone.locator("#position")).to_have_text("You are next")

    await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "2"})

    await expect(phone.locator("#state")).to_have_text("Called \u2013 go to counter 2")
    await expect(phone.locator("#actions")).to_be_hidden()
    await expect(phone.locator("#wait")).to_be_hidden()
    await screenshot(phone, "patient-called")


async def test_buttons_work_without_javascript(browser: Browser, api: Api) -> None:
    tickets = await pharmacy(api)
    context = await phone_context(browser, javascript=False)
    page = await context.new_page()
    try:
        await page.goto(f"{api.base_url}/t/{tickets[0]['token']}")
        await page.locator("summary", has_text="I'm running late").click()
        await page.get_by_role("button", name="5 min", exact=True).click()
        await expect(page.locator(".flash-message")).to_be_visible()
        assert (await ticket(api, tickets[0]["id"]))["late_count"] == 1

        await page.locator("summary", has_text="Leave the queue").click()
        await page.get_by_role("button", name="Yes, leave the queue").click()
        await expect(page.locator("#state")).to_have_text("Cancelled \u2013 you left the queue")
        assert (await ticket(api, tickets[0]["id"]))["status"] == "cancelled"
    finally:
        await context.close()


async def test_unknown_token_is_a_friendly_404(phone: Page, api: Api) -> None:
    response = await phone.goto(f"{api.base_url}/t/no-such-ticket-token")
    assert response is not None and response.status == 404
    await expect(phone.get_by_role("heading")).to_have_text("This ticket link is not valid")


async def test_another_site_cannot_make_the_patient_leave(phone: Page, api: Api) -> None:
    """A page elsewhere auto-posts the leave form: the browser sends its Origin; refused."""
    tickets = await pharmacy(api)
    target = f"{api.base_url}/t/{tickets[0]['token']}/leave"
    evil = (
        f'<form method="post" action="{target}"></form><script>document.forms[0].submit()</script>'
    )
    await phone.route(
        "http://evil.test/**", lambda route: route.fulfill(body=evil, content_type="text/html")
    )
    async with phone.expect_response(target) as posted:
        await phone.goto("http://evil.test/")
    response = await posted.value
    assert response.status == 403
    assert (await ticket(api, tickets[0]["id"]))["status"] == "waiting"
