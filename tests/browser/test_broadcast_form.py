"""The board's "message the line" form in a real browser: sent, refused, and what it queued."""

from __future__ import annotations

from playwright.async_api import Page, expect

from core.services.queues import QueueService, new_join_request
from core.storage.models import OutboxMessage, TicketEventRow
from tests.browser.conftest import log_in, screenshot
from tests.conftest import Api


async def test_staff_message_the_line_from_the_board(
    page: Page, api: Api, queues: QueueService
) -> None:
    response = await api.call(
        "POST",
        "/api/v1/queues",
        json={"code": "PHARM", "name": "Pharmacy", "prefix": "A", "counters": ["1", "2"]},
    )
    assert response.status_code == 201, response.text
    await queues.join("PHARM", new_join_request(telegram_chat_id=4101), "staff:ana")
    await queues.join("PHARM", new_join_request(phone="+15550004102"), "staff:ana")
    await queues.join("PHARM", new_join_request(name="Walk-in"), "staff:ana")
    await log_in(page, api, "pharmacist")
    form = page.locator("form.broadcast")
    await expect(form).to_be_visible()

    # Too long for the SMS patient: refused with the count, the text kept to be shortened.
    await form.locator("textarea[name=text]").fill("x" * 400)
    await form.get_by_role("button", name="Send").click()
    form = page.locator("form.broadcast")
    await expect(form.locator(".error")).to_contain_text("3 segments")
    await expect(form.locator("textarea[name=text]")).to_have_value("x" * 400)
    assert await OutboxMessage.filter(kind="broadcast").count() == 0

    await form.locator("textarea[name=text]").fill("The pharmacist is back at 14:00.")
    await form.locator("select[name=to]").select_option("all")
    await form.get_by_role("button", name="Send").click()
    form = page.locator("form.broadcast")
    await expect(form.locator(".notice")).to_contain_text("Sent to 2 patients")
    await expect(form.locator(".notice")).to_contain_text("Telegram 1, SMS 1")
    await expect(form.locator(".notice")).to_contain_text("1 without a phone or Telegram")
    await expect(form.locator("textarea[name=text]")).to_have_value("")
    assert await OutboxMessage.filter(kind="broadcast").count() == 2
    actors = await TicketEventRow.filter(type="ticket_broadcast").values_list("actor", flat=True)
    assert actors == ["staff:pharmacist-user"] * 2
    await screenshot(page, "console-broadcast")  # the README's docs/screenshots/ copy
