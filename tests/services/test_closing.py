"""Closing time on the real storage (SQLite, PostgreSQL): with `close_remaining` the
patients still waiting are told on their channel through the outbox and their tickets end
`closed`, once however many rounds (and processes) run; with `serve_remaining` joins stop
and the line is still called."""

from __future__ import annotations

import asyncio

from core.domain.hours import parse_hours
from core.domain.model import OnClose, QueueConfig
from core.services.housekeeping import close_lines
from core.services.queues import QueueService, new_join_request
from core.storage.models import OutboxMessage, TicketEventRow, TicketRow
from nextup.wiring import Container
from tests.conftest import FakeClock

# The test clock starts on Monday 2026-03-02 at 09:00 UTC; the queue keeps UTC.
HOURS = parse_hours({"mon": [["08:00", "12:00"]], "tue": [["08:00", "12:00"]]})


async def line(queues: QueueService, on_close: OnClose) -> list[str]:
    config = QueueConfig(opening_hours=HOURS, on_close=on_close, refuse_past_closing=False)
    await queues.create_queue("PHARM", "Pharmacy", "A", config, ["1"], public_name="Pharmacy")
    joined = [
        await queues.join("PHARM", new_join_request(telegram_chat_id=7), "patient:telegram"),
        await queues.join("PHARM", new_join_request(phone="+34600111222"), "staff:ana"),
        await queues.join("PHARM", new_join_request(name="No phone"), "staff:ana"),
    ]
    return [j.ticket.id for j in joined]


async def test_close_remaining_tells_each_waiting_patient_once(
    container: Container, clock: FakeClock
) -> None:
    queues = container.queues
    ids = await line(queues, OnClose.CLOSE_REMAINING)
    assert await close_lines(queues, await queues.live_lines()) == 0  # open until 12:00
    clock.advance(hours=3, minutes=1)
    # Two processes' rounds at once: each ticket is closed, and told, once.
    counts = await asyncio.gather(
        close_lines(queues, await queues.live_lines()),
        close_lines(queues, await queues.live_lines()),
    )
    assert sorted(counts) == [0, 3]
    assert await close_lines(queues, await queues.live_lines()) == 0
    rows = await TicketRow.filter(id__in=ids).values_list("status", flat=True)
    assert list(rows) == ["closed"] * 3
    sent = await OutboxMessage.filter(kind="line_closed").order_by("channel")
    assert [(m.channel, m.ticket_id) for m in sent] == [("sms", ids[1]), ("telegram", ids[0])]
    audit = await TicketEventRow.filter(type="ticket_closed").values_list("actor", flat=True)
    assert list(audit) == ["system:close"] * 3
    status = await queues.status("PHARM")
    assert status.queue.size() == 0


async def test_serve_remaining_keeps_calling_the_line(
    container: Container, clock: FakeClock
) -> None:
    queues = container.queues
    await line(queues, OnClose.SERVE_REMAINING)
    clock.advance(hours=4)
    assert await close_lines(queues, await queues.live_lines()) == 0
    called = await queues.call_next("PHARM", "1", "staff:ana")
    assert called.number == "A-001"
    assert (await queues.status("PHARM")).queue.size() == 2


async def test_a_walk_in_forced_after_closing_stays(container: Container, clock: FakeClock) -> None:
    queues = container.queues
    await line(queues, OnClose.CLOSE_REMAINING)
    clock.advance(hours=4)
    await close_lines(queues, await queues.live_lines())
    late = await queues.join("PHARM", new_join_request(name="Late", force=True), "staff:ana")
    clock.advance(minutes=30)
    assert await close_lines(queues, await queues.live_lines()) == 0
    assert (await TicketRow.get(id=late.ticket.id)).status == "waiting"
