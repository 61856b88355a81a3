"""A staff alert and the daily summary reaching linked staff chats through the dispatcher
and the real aiogram client against the Telegram emulator, worded from the catalogue."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from core.services import accounts
from core.services.daily_summary import DailySummaries
from core.services.queues import new_join_request
from core.services.staff_alerts import StaffAlerts
from core.services.staff_chat import issue_link_code
from core.storage.models import OutboxMessage, TicketRow
from tests.bot.conftest import Live

PHARMACIST = 3301
ADMIN = 3302


async def test_a_wait_alert_reaches_the_linked_chat_once(live: Live) -> None:
    queues = live.container.queues
    config = await queues.get_config("PHARM")
    await queues.put_config("PHARM", dataclasses.replace(config, wait_alert_s=600))
    await accounts.create_account("maria", "pharmacist", "correct horse", queues=["PHARM"])
    code = await issue_link_code("maria", queues.clock())
    await live.reply_to(PHARMACIST, f"/link {code}", "linked to maria")
    for _ in range(6):  # six visits of 5 min ahead on two counters: 15 min
        await queues.join("PHARM", new_join_request(), "staff:ana")
    alerts = StaffAlerts(queues)
    assert await alerts.evaluate("PHARM") == ["wait"]
    [message] = await live.tg.wait_for_message(PHARMACIST, "past the 10 min alert")
    assert "Pharmacy (PHARM)" in message.text
    assert "someone joining now would wait about 15 min" in message.text
    assert "With one more counter open, someone joining now would wait about 10 min" in message.text
    assert message.reply_markup is None
    assert await alerts.evaluate("PHARM") == []
    [row] = await OutboxMessage.filter(kind="staff_alert_wait")
    for _ in range(100):  # recorded just after the send
        await row.refresh_from_db()
        if row.status == "sent":
            break
        await asyncio.sleep(0.02)
    assert row.status == "sent"
    assert len([m for m in live.tg.messages_to(PHARMACIST) if "alert" in m.text]) == 1


async def test_the_daily_summary_reaches_the_linked_admin_chats(live: Live) -> None:
    queues = live.container.queues
    for name, role, chat in (("boss", "admin", ADMIN), ("maria", "pharmacist", PHARMACIST)):
        await accounts.create_account(name, role, "correct horse", queues=["PHARM"])
        code = await issue_link_code(name, queues.clock())
        await live.reply_to(chat, f"/link {code}", f"linked to {name}")
    joined = await queues.join("PHARM", new_join_request(), "staff:ana")
    yesterday = queues.clock() - timedelta(days=1)  # a visit of the day that is over
    await TicketRow.filter(id=joined.ticket.id).update(joined_at=yesterday)
    assert await DailySummaries(queues).send_due() == {"PHARM": 1}
    [summary] = await live.tg.wait_for_message(ADMIN, "Failed notifications: 0")
    assert f"Pharmacy (PHARM), {yesterday.date().isoformat()}" in summary.text
    assert "Visits: 1 (completed 0, no-shows 0, left 0)" in summary.text
    assert "nobody was called" in summary.text
    assert await DailySummaries(queues).send_due() == {}
    assert not [m for m in live.tg.messages_to(PHARMACIST) if "Visits:" in m.text]
