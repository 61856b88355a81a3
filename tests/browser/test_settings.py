"""The admin's queue settings page in a real browser: a weight moved with its slider, a
counter closed, and a bad capacity shown next to its field."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in, screenshot
from tests.conftest import Api

SETTINGS = "/console/queues/PHARM/settings"


async def make_queues(api: Api) -> None:
    for code, name, prefix in (("LAB", "Laboratory", "L"), ("PHARM", "Pharmacy", "A")):
        response = await api.call(
            "POST",
            "/api/v1/queues",
            json={"code": code, "name": name, "prefix": prefix, "counters": ["1", "2"]},
        )
        assert response.status_code == 201, response.text


async def api_get(api: Api, path: str) -> dict[str, Any]:
    response = await api.call("GET", f"/api/v1/queues/PHARM{path}", role="staff")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_admin_moves_a_weight_closes_a_counter_and_saves(page: Page, api: Api) -> None:
    await make_queues(api)
    await log_in(page, api, "admin")
    await page.goto(f"{api.base_url}{SETTINGS}")
    preview = page.locator("#weights-preview")
    await expect(preview).to_contain_text("In FIFO mode these weights are not used")

    await page.get_by_label("Dynamic").check()
    await expect(preview).to_contain_text("goes ahead of every routine walk-in")
    await expect(preview).to_contain_text(
        "appointment is due now goes ahead of routine walk-ins who have waited less than 40 min"
    )

    # The slider moved by keyboard, as a person would; its value and the preview follow live.
    slider = page.locator("#weight_priority")
    await slider.focus()
    for _ in range(3):
        await page.keyboard.press("ArrowLeft")
    await expect(page.locator("#weight_priority-value")).to_have_text("0.35")
    # urgent scores 0.35 * 2/3 = 0.233: a walk-in overtakes after 0.233 / 0.3 of the hour.
    await expect(preview).to_contain_text("have waited less than 47 min")

    await page.get_by_label("Counter 2 open").uncheck()
    await page.get_by_label("Wait alert").fill("45")
    await page.get_by_label("Overflow queue").select_option("LAB")
    await screenshot(page, "settings")
    await page.get_by_role("button", name="Save settings").click()

    await expect(page.locator(".notice")).to_contain_text("Saved.")
    assert page.url.endswith(f"{SETTINGS}?saved=1")
    await expect(page.locator("#weight_priority-value")).to_have_text("0.35")
    config = await api_get(api, "/config")
    assert config["mode"] == "dynamic"
    assert config["weights"] == {"priority": 0.35, "wait_time": 0.3, "appointment": 0.2}
    assert (config["wait_alert_s"], config["overflow_queue"]) == (2700, "LAB")
    queue = await api_get(api, "")
    assert queue["counters"] == [{"name": "1", "is_open": True}, {"name": "2", "is_open": False}]


async def test_a_bad_capacity_is_shown_next_to_it_and_nothing_is_saved(
    page: Page, api: Api
) -> None:
    await make_queues(api)
    await log_in(page, api, "admin")
    await page.goto(f"{api.base_url}{SETTINGS}")
    await page.get_by_label("Dynamic").check()
    await page.get_by_label("Most patients waiting").fill("0")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.get_by_role("button", name="Save settings").click()
    assert (await posted.value).status == 422

    capacity = page.locator(".field:has(#capacity)")
    await expect(capacity.locator(".field-error")).to_have_text(
        "capacity must be at least 1 (leave it empty for no limit)"
    )
    await expect(page.locator("#capacity")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#capacity")).to_have_value("0")
    await expect(page.get_by_label("Dynamic")).to_be_checked()  # what was typed stays
    await expect(page.locator(".field-error")).to_have_count(1)
    await expect(page.get_by_role("alert").filter(has_text="Nothing was saved")).to_be_visible()
    await screenshot(page, "settings-error")

    config = await api_get(api, "/config")
    assert (config["capacity"], config["mode"]) == (None, "fifo")
