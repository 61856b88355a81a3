"""A staff alert reaching a linked staff chat through the dispatcher and the real aiogram
client against the Telegram emulator, worded from the catalogue."""

from __future__ import annotations

import asyncio
import dataclasses

from core.services import accounts
from core.services.queues import new_join_request
from core.services.staff_alerts import StaffAlerts
from core.services.staff_chat import issue_link_code
from core.storage.models import OutboxMessage
from tests.bot.conftest import Live

PHARMACIST = 3301


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
