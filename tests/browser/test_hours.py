"""Opening hours in a real browser: the admin edits the week on the settings page and sees
it saved; the waiting-room display and the patient page say "closed" and until when, and
the display turns paused and back live, without a reload."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, log_in, screenshot
from tests.conftest import Api
from tests.patient_tokens import with_token

API = "/api/v1"
TV = {"width": 1920, "height": 1080}
# The test clock starts on Monday 2026-03-02 at 09:00 UTC; the queue keeps UTC.
LATER_TODAY = {"mon": [["10:00", "13:00"], ["14:00", "18:00"]], "tue": [["08:00", "18:00"]]}


async def pharmacy(api: Api, **config: Any) -> None:
    body = {"code": "PHARM", "name": "Pharmacy", "public_name": "Pharmacy", "prefix": "A"}
    assert (await api.call("POST", f"{API}/queues", json=body)).status_code == 201
    if config:
        response = await api.call("PUT", f"{API}/queues/PHARM/config", json=config)
        assert response.status_code == 200, response.text


async def test_the_hours_editor_saves_and_shows_the_week(page: Page, api: Api) -> None:
    await pharmacy(api)
    await log_in(page, api, "admin")
    await page.goto(f"{api.base_url}/console/queues/PHARM/settings")
    section = page.locator("#opening-hours")
    await section.get_by_label("Keep opening hours").check()
    await section.get_by_label("Monday").fill("08:00-13:00, 14:00-18:00")
    await section.get_by_label("Saturday").fill("09:00-13:00")
    await section.get_by_label("Closed on these dates").fill("2026-12-25\n2027-01-01")
    await section.get_by_label("At closing time").select_option("close_remaining")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    await expect(section.get_by_label("Monday")).to_have_value("08:00-13:00, 14:00-18:00")
    await expect(section.get_by_label("Saturday")).to_have_value("09:00-13:00")
    await expect(section.get_by_label("Sunday")).to_have_value("")
    await expect(section.get_by_label("Keep opening hours")).to_be_checked()
    config = (await api.call("GET", f"{API}/queues/PHARM/config")).json()
    assert config["opening_hours"]["mon"] == [["08:00", "13:00"], ["14:00", "18:00"]]
    assert config["opening_hours"]["sat"] == [["09:00", "13:00"]]
    assert config["closures"] == ["2026-12-25", "2027-01-01"]
    assert config["on_close"] == "close_remaining"

    # A bad interval comes back next to its weekday, with what was typed.
    await section.get_by_label("Wednesday").fill("9 to 5")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#hours_wed-error")).to_contain_text("write times like")
    await expect(section.get_by_label("Wednesday")).to_have_value("9 to 5")
    await section.get_by_label("Wednesday").fill("09:00-17:00")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    await section.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await section.screenshot(path=str(SCREENSHOTS / "settings-hours.png"))


async def test_the_display_says_closed_and_turns_paused_live(page: Page, api: Api) -> None:
    await pharmacy(api, opening_hours=LATER_TODAY)
    await page.set_viewport_size(TV)
    await page.goto(f"{api.base_url}/display/PHARM")
    banner = page.locator("#closed")
    await expect(banner).to_have_text("Closed \u2013 opens Mon 10:00")
    await expect(page.locator(".hours")).to_contain_text("Mon 10:00\u201313:00, 14:00\u201318:00")
    await page.locator("#sound-off").click()
    await screenshot(page, "display-closed")

    # Open hours, then a pause from the console's API: the display follows its feed.
    response = await api.call("PUT", f"{API}/queues/PHARM/config", json={"opening_hours": None})
    assert response.status_code == 200, response.text
    await expect(banner).to_be_hidden()
    paused = await api.call(
        "POST", f"{API}/queues/PHARM/pause", role="staff", json={"message": "Back at 11"}
    )
    assert paused.status_code == 200, paused.text
    await expect(banner).to_have_text("Not taking new patients right now: Back at 11")
    await api.call("POST", f"{API}/queues/PHARM/resume", role="staff")
    await expect(banner).to_be_hidden()


async def test_the_patient_page_says_closed(page: Page, api: Api) -> None:
    await pharmacy(api, opening_hours=LATER_TODAY, language="es")
    joined = await api.call(
        "POST", f"{API}/queues/PHARM/tickets", role="staff", json={"force": True}
    )
    assert joined.status_code == 201, joined.text
    ticket = await with_token(joined.json())
    await page.goto(f"{api.base_url}/t/{ticket['token']}")
    await expect(page.locator(".closed-notice")).to_have_text(
        "Cerrado \u2013 abre el lun a las 10:00"
    )
    await expect(page.locator(".opening-hours")).to_contain_text("10:00\u201313:00")
    await expect(page.locator("#number")).to_have_text("A-001")
    await screenshot(page, "patient-closed")
