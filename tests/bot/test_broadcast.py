"""A broadcast reaching a Telegram patient and an SMS patient once each, through the real
aiogram and twilio clients against the emulators, and `/broadcast` from a linked chat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from argon2 import PasswordHasher

from core.domain.model import QueueConfig
from core.services import accounts
from core.services.queues import new_join_request
from core.services.staff_chat import issue_link_code
from core.storage.models import OutboxMessage, TicketEventRow
from tests.bot.conftest import Live, live_nextup
from tests.emulators.telegram import TelegramEmulator
from tests.emulators.twilio import TwilioEmulator

PATIENT_TG = 3101
PATIENT_SMS = "+15550003101"
PHARMACIST = 3202
TEXT = "The pharmacist is back at 14:00."


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioEmulator]:
    async with TwilioEmulator(numbers=("+15550000001",)) as emulator:
        yield emulator


@pytest.fixture
async def both(
    migrated: str, tg: TelegramEmulator, twilio: TwilioEmulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Live]:
    """NextUp with Telegram and SMS, a queue, a patient on each channel and a walk-in."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    sms = {
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "twilio_from": ",".join(twilio.numbers),
        "twilio_api_base": twilio.base_url,
    }
    async with live_nextup(migrated, tg, settings=sms) as running:
        queues = running.container.queues
        await queues.create_queue(
            "PHARM", "Pharmacy", "A", QueueConfig(), ["1", "2"], public_name="Pharmacy"
        )
        await running.say(PATIENT_TG, "/join PHARM")
        await tg.wait_for_message(PATIENT_TG, "A-001")
        await queues.join("PHARM", new_join_request(phone=PATIENT_SMS), "staff:ana")
        await twilio.wait_for_message(PATIENT_SMS, "A-002")
        await queues.join("PHARM", new_join_request(), "staff:ana")  # no channel
        yield running


async def all_sent(kind: str, n: int) -> list[OutboxMessage]:
    """The `n` messages of `kind` once the dispatcher has finished with every one."""
    for _ in range(500):
        rows = await OutboxMessage.filter(kind=kind)
        if len(rows) >= n and all(r.status not in ("queued", "sending") for r in rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"{kind}: {[(r.recipient, r.status) for r in rows]}")


async def test_a_broadcast_reaches_each_patient_once_on_their_channel(
    both: Live, twilio: TwilioEmulator
) -> None:
    sent = await both.container.queues.broadcast("PHARM", TEXT, "waiting", "staff:ana")
    assert (sent.by_channel, sent.unreachable) == ({"telegram": 1, "sms": 1}, 1)
    [on_telegram] = await both.tg.wait_for_message(PATIENT_TG, TEXT)
    [by_sms] = await twilio.wait_for_message(PATIENT_SMS, TEXT)
    assert "Pharmacy" in on_telegram.text and "A-001" in on_telegram.text
    assert by_sms.body == f"Pharmacy A-002: {TEXT}"
    rows = await all_sent("broadcast", 2)
    assert sorted((r.channel, r.status) for r in rows) == [("sms", "sent"), ("telegram", "sent")]
    assert next(r for r in rows if r.channel == "sms").segments == 1
    # Once each: one message with the text per patient, and nothing else was queued for it.
    assert len([m for m in both.tg.messages_to(PATIENT_TG) if TEXT in m.text]) == 1
    assert len([m for m in twilio.messages_to(PATIENT_SMS) if TEXT in m.body]) == 1


async def test_a_linked_pharmacist_broadcasts_from_the_chat(
    both: Live, twilio: TwilioEmulator
) -> None:
    await accounts.create_account("maria", "pharmacist", "correct horse", queues=["PHARM"])
    await both.reply_to(PHARMACIST, f"/broadcast PHARM {TEXT}", "for staff")  # not linked
    code = await issue_link_code("maria", both.container.queues.clock())
    await both.reply_to(PHARMACIST, f"/link {code}", "linked to maria")

    await both.reply_to(PHARMACIST, "/broadcast", "Say which queue")
    await both.reply_to(PHARMACIST, "/broadcast PHARM", "Say which queue")
    answer = await both.reply_to(PHARMACIST, "/broadcast PHARM " + "x" * 400, "Too long")
    assert "3 segments" in answer.text
    assert await OutboxMessage.filter(kind="broadcast").count() == 0

    answer = await both.reply_to(PHARMACIST, f"/broadcast pharm {TEXT}", "Sent to 2 patients")
    assert "Telegram 1, SMS 1" in answer.text and "1 without a phone" in answer.text
    await both.tg.wait_for_message(PATIENT_TG, TEXT)
    await twilio.wait_for_message(PATIENT_SMS, TEXT)
    actors = await TicketEventRow.filter(type="ticket_broadcast").values_list("actor", flat=True)
    assert actors == ["staff:maria", "staff:maria"]
    await both.reply_to(PHARMACIST, "/broadcast LAB hello", "no queue")
