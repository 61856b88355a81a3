"""A quiet line through the real aiogram bot and the Bot API emulator: a patient joins and
gives their travel time, then nobody does anything; as time passes, the timer sends them
"leave now" and a changed wait, each once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from tortoise import connections

from core.domain.model import QueueConfig
from core.services.housekeeping import housekeeping_forever
from core.services.queues import new_join_request
from core.settings import load_settings
from core.storage.models import OutboxMessage, TicketRow
from nextup.wiring import Container, build_container
from tests.bot.conftest import FAST_RETRY
from tests.conftest import TABLES, FakeClock, redis_url, stop_tasks
from tests.emulators.telegram import TelegramEmulator

PATIENT = 3003


@pytest.fixture
async def quiet(
    migrated: str, tg: TelegramEmulator
) -> AsyncIterator[tuple[Container, FakeClock, TelegramEmulator]]:
    """NextUp with the bot polling, the dispatcher sending and housekeeping re-evaluating
    every 0.05 s, on a clock the test moves."""
    from bot.app import run_polling

    clock = FakeClock(datetime.now(UTC))
    settings = load_settings(
        database_url=migrated,
        redis_url=redis_url(),
        telegram_token=tg.token,
        telegram_api_base=tg.base_url,
        public_url="https://queue.example.org",
    )
    container = build_container(settings, clock=clock)
    await container.start(migrate=False)
    await connections.get("default").execute_script(
        "".join(f"DELETE FROM {table};" for table in TABLES)
    )
    assert container.telegram is not None
    dispatcher = container.notification_dispatcher(retry=FAST_RETRY)
    tasks = [
        asyncio.create_task(dispatcher.run()),
        asyncio.create_task(run_polling(container.telegram.bot, container.telegram.dispatcher)),
        asyncio.create_task(housekeeping_forever(container.queues, reevaluate_interval_s=0.05)),
    ]
    try:
        yield container, clock, tg
    finally:
        await stop_tasks(tasks)
        await dispatcher.close()
        await container.stop()


async def test_a_quiet_line_tells_a_telegram_patient_to_leave_now_and_a_new_wait(
    quiet: tuple[Container, FakeClock, TelegramEmulator],
) -> None:
    container, clock, tg = quiet
    queues = container.queues
    config = QueueConfig(
        default_service_s=600,
        notify_positions=(),
        eta_change_margin_s=60,
        eta_update_interval_s=120,
    )
    await queues.create_queue("PHARM", "Pharmacy", "A", config, ["1"])
    for _ in range(3):
        await queues.join("PHARM", new_join_request(), "staff:ana")
    await queues.call_next("PHARM", "1", "staff:ana")  # a visit of about 10 min begins
    await tg.user_message(PATIENT, "/join PHARM")
    await tg.wait_for_message(PATIENT, "A-004")
    await tg.user_message(PATIENT, "/travel 15")
    await tg.wait_for_message(PATIENT, "15 min")
    ticket = await TicketRow.get(telegram_chat_id=PATIENT)
    assert ticket.travel_s == 900 and not ticket.leave_now_sent
    told = len(tg.messages_to(PATIENT))

    clock.advance(seconds=120)  # no command: the visit at the counter goes on
    [leave] = await tg.wait_for_message(PATIENT, "leave now")
    assert "A-004" in leave.text
    clock.advance(seconds=120)
    [changed] = await tg.wait_for_message(PATIENT, "new expected wait")
    assert "faster than expected" in changed.text
    await asyncio.sleep(0.5)  # a few more rounds of the timer: nothing else is due

    assert len(tg.messages_to(PATIENT)) == told + 2, [m.text for m in tg.messages_to(PATIENT)]
    kinds = await OutboxMessage.filter(ticket_id=ticket.id).values_list("kind", "status")
    assert sorted(kinds) == [("eta_changed", "sent"), ("joined", "sent"), ("leave_now", "sent")]
