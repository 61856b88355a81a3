"""The waiting-room display on a 1920x1080 TV in Spanish: "→ VENTANILLA 1" stays on the
line of its number, for the latest call and the ones before it."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.test_display import call_next, pharmacy, tv
from tests.conftest import Api

__all__ = ["tv"]  # the 1920x1080 page fixture


async def test_spanish_counters_stay_on_the_line_of_their_arrow(tv: Page, api: Api) -> None:
    await pharmacy(api, patients=3, language="es")
    await tv.goto(f"{api.base_url}/display/PHARM")
    await tv.get_by_role("button", name="Continuar sin sonido").click()
    await expect(tv.locator("#conn")).to_have_attribute("data-state", "live")
    for counter in ("1", "2", "3"):
        await call_next(api, counter)
    items = tv.locator(".called-item")
    await expect(items).to_have_count(3)
    await expect(tv.locator(".called-item.latest .ctr-label")).to_have_text("Ventanilla")
    for index in range(3):
        item = items.nth(index)
        parts = {}
        for part in ("num", "arrow", "ctr"):
            box = await item.locator(f".{part}").bounding_box()
            assert box is not None
            parts[part] = box
        # one line: each part's middle lies within the others' height
        middles = {name: box["y"] + box["height"] / 2 for name, box in parts.items()}
        for name, box in parts.items():
            for other, middle in middles.items():
                assert box["y"] <= middle <= box["y"] + box["height"], (index, name, other)
        item_box = await item.bounding_box()
        assert item_box is not None
        assert parts["ctr"]["x"] + parts["ctr"]["width"] <= item_box["x"] + item_box["width"] + 1
    await screenshot(tv, "display-es")
