"""A patient with no app, on a phone: the poster's QR code opens the join form, the form
makes a ticket, and the ticket page beeps, buzzes and retitles itself when they are called."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import screenshot
from tests.conftest import Api

API = "/api/v1"
PHONE = {"width": 390, "height": 844}
RECORD_ALERTS = """
// What the page asks of the speaker and the vibration motor, for the test to read.
window.alerts = { tones: 0, vibrations: [] };
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  const tone = createOscillator.call(this);
  const start = tone.start.bind(tone);
  tone.start = (...args) => { window.alerts.tones += 1; return start(...args); };
  return tone;
};
Object.defineProperty(navigator, "vibrate", {
  value: (pattern) => { window.alerts.vibrations.push(pattern); return true; },
});
"""


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    await context.add_init_script(RECORD_ALERTS)
    yield await context.new_page()
    await context.close()


async def alerts(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = await page.evaluate("window.alerts")
    return found


async def test_join_from_the_poster_and_hear_the_call(phone: Page, api: Api) -> None:
    body = {
        "code": "PHARM",
        "name": "Pharmacy",
        "public_name": "Pharmacy",
        "prefix": "A",
        "counters": ["1", "2"],
        "service_times_s": {"pickup": 120, "vaccine": 600},
    }
    assert (await api.call("POST", f"{API}/queues", json=body)).status_code == 201
    poster = await api.call("GET", "/q/PHARM/poster", role=None)
    assert "/q/PHARM/join" in poster.text

    await phone.goto(f"{api.base_url}/q/PHARM/join")
    await expect(phone.get_by_role("heading", name="Join the queue")).to_be_visible()
    # One screen: the button is in view without scrolling.
    await expect(phone.get_by_role("button", name="Get my number")).to_be_in_viewport()
    await phone.get_by_label("Your name").fill("Ada Lovelace")
    await phone.get_by_label("Mobile number").fill("+44 7700 900123")
    await phone.get_by_label("vaccine").check()
    await screenshot(phone, "join-form")
    await phone.get_by_role("button", name="Get my number").click()

    await phone.wait_for_url(f"{api.base_url}/t/**")
    await expect(phone.locator(".flash-message")).to_contain_text("You are in the line")
    await expect(phone.locator("#number")).to_have_text("A-001")
    await expect(phone.locator("#conn")).to_have_attribute("data-state", "live")
    assert await phone.title() == "A-001 \u2013 Pharmacy"
    assert await alerts(phone) == {"tones": 0, "vibrations": []}

    called = await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "2"})
    assert called.status_code == 200 and called.json()["service"] == "vaccine"

    await expect(phone.locator("#state")).to_have_text("Called \u2013 go to counter 2")
    await expect(phone).to_have_title("\u25b6 Your turn \u2013 counter 2")
    assert await phone.evaluate("document.title") == "\u25b6 Your turn \u2013 counter 2"
    heard = await alerts(phone)
    assert heard["tones"] == 3 and len(heard["vibrations"]) == 1
    await screenshot(phone, "join-called")

    # Opening the page again while called: the title says so, and nothing beeps again.
    await phone.reload()
    await expect(phone.locator("#state")).to_have_text("Called \u2013 go to counter 2")
    assert await phone.title() == "\u25b6 Your turn \u2013 counter 2"
    assert await alerts(phone) == {"tones": 0, "vibrations": []}
