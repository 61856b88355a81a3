"""The quick-reference card in Chromium: reached from the console's navigation, printed
on one A4 sheet in English and in Spanish, without the console's chrome."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in, screenshot
from tests.conftest import Api

A4_WIDTH_PX = 794
"""210 mm at the 96 dpi of CSS pixels."""


def pages_in(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


async def test_the_card_prints_on_one_a4_sheet_in_both_languages(page: Page, api: Api) -> None:
    await log_in(page, api, "staff")
    await page.get_by_role("link", name="Help").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("NextUp quick reference")
    await expect(page.locator(".topbar")).to_be_visible()

    await page.set_viewport_size({"width": A4_WIDTH_PX, "height": 1123})
    await page.emulate_media(media="print")
    await expect(page.locator(".topbar")).to_be_hidden()
    await expect(page.get_by_role("button", name="Print")).to_be_hidden()
    await screenshot(page, "help-card")
    english = await page.pdf(format="A4", print_background=True)
    assert pages_in(english) == 1, pages_in(english)  # the card says "one A4 sheet"

    await page.emulate_media(media="screen")
    await page.get_by_role("link", name="Español").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Guía rápida de NextUp")
    await page.emulate_media(media="print")
    await screenshot(page, "help-card-es")
    spanish = await page.pdf(format="A4", print_background=True)
    assert pages_in(spanish) == 1, pages_in(spanish)
