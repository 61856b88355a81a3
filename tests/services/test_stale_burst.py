"""The burst of issue 17: patients on Telegram and SMS join, then every counter calls at
once, with Telegram's limits on. Messages queued before a call that no longer tell the
truth are superseded, never sent after it: no patient hears anything after "it's your
turn" but the call. Through the real aiogram and twilio clients, against the emulators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from tortoise import connections

from core.delivery.dispatcher import Dispatcher, RetryPolicy
from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from core.settings import load_settings
from core.storage import outbox
from core.storage.models import OutboxMessage
from nextup.wiring import Container, build_container
from tests.conftest import TABLES, redis_url
from tests.emulators.telegram import TelegramEmulator
from tests.emulators.twilio import TwilioEmulator

TELEGRAM_PATIENTS = 15
SMS_PATIENTS = 6
COUNTERS = [str(n) for n in range(1, 16)]
ABOUT_THE_CALL = {"called", "recalled"}
NUMBERS = tuple(f"+1555000{n:04}" for n in range(10))


@dataclass
class Both:
    container: Container
    tg: TelegramEmulator
    twilio: TwilioEmulator
    dispatcher: Dispatcher


@pytest.fixture
async def both(migrated: str) -> AsyncIterator[Both]:
    async with TelegramEmulator() as tg, TwilioEmulator(numbers=NUMBERS) as twilio:
        tg.enforce_limits(per_bot_per_s=30, per_chat_interval_s=1.0)
        settings = load_settings(
            database_url=migrated,
            redis_url=redis_url(),
            telegram_token=tg.token,
            telegram_api_base=tg.base_url,
            public_url="https://queue.example.org",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_from=",".join(twilio.numbers),
            twilio_api_base=twilio.base_url,
        )
        container = build_container(settings)
        await container.start(migrate=False)
        await connections.get("default").execute_script(
            "".join(f"DELETE FROM {table};" for table in TABLES)
        )
        dispatcher = container.notification_dispatcher(
            retry=RetryPolicy(max_attempts=5, base_delay_s=0.2, max_delay_s=1.0),
            poll_interval_s=0.2,
            ladder=False,
        )
        running = asyncio.create_task(dispatcher.run())
        try:
            yield Both(container, tg, twilio, dispatcher)
        finally:
            running.cancel()
            await asyncio.wait([running], timeout=15)
            await twilio.cancel_callbacks()
            await dispatcher.close()
            await container.stop()


async def settled(timeout_s: float = 60) -> None:
    """Until nothing is left to send."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await OutboxMessage.filter(status__in=["queued", "sending"]).exists():
        assert loop.time() < deadline, "notifications still unsent"
        await asyncio.sleep(0.1)


async def test_no_patient_hears_anything_after_their_call_but_the_call(both: Both) -> None:
    queues = both.container.queues
    await queues.create_queue(
        "PHARM", "Pharmacy", "A", QueueConfig(default_service_s=300), COUNTERS
    )
    tickets = {}
    for n in range(TELEGRAM_PATIENTS + SMS_PATIENTS):
        if n % 4 == 3 and len([t for t in tickets.values() if t[0] == "sms"]) < SMS_PATIENTS:
            request = new_join_request(phone=f"+3460011{n:04}")
            address = ("sms", request.phone)
        else:
            request = new_join_request(telegram_chat_id=5000 + n)
            address = ("telegram", str(request.telegram_chat_id))
        joined = await queues.join("PHARM", request, "staff:ana")
        tickets[joined.ticket.id] = address

    await asyncio.sleep(0.3)  # the first "joined" are on their way
    called = await asyncio.gather(*(queues.call_next("PHARM", c, "staff:ana") for c in COUNTERS))
    assert len({t.id for t in called}) == len(COUNTERS)
    await settled()

    # What each patient received, in the order it arrived, by the kind the outbox says.
    kinds_by_id = {
        (row.recipient, row.provider_message_id): row.kind
        for row in await OutboxMessage.filter(status__in=["sent", "acknowledged"])
    }
    received: dict[tuple[str, str], list[str]] = {}
    for message in sorted(both.tg.sent, key=lambda m: m.at):
        key = (str(message.chat_id), str(message.message_id))
        received.setdefault(("telegram", key[0]), []).append(kinds_by_id[key])
    for sms in sorted(both.twilio.messages, key=lambda m: m.at):
        received.setdefault(("sms", sms.to), []).append(kinds_by_id[(sms.to, sms.sid)])

    stale = {}
    for ticket in called:
        kinds = received[tickets[ticket.id]]
        assert "called" in kinds, (tickets[ticket.id], kinds)
        after = kinds[kinds.index("called") :]
        if set(after) - ABOUT_THE_CALL:
            stale[tickets[ticket.id]] = kinds
    assert stale == {}
    assert {channel for channel, _ in (tickets[t.id] for t in called)} == {"telegram", "sms"}

    # The messages that would have been stale are there to see, superseded.
    superseded = await OutboxMessage.filter(status="superseded")
    assert superseded
    one = superseded[0]
    assert one.ticket_id is not None
    shown = await outbox.for_ticket(one.ticket_id)
    assert "superseded" in {row.status for row in shown}
    assert one.last_error is not None and one.last_error.startswith("superseded")
