"""What one command writes: tickets, audit trail, outbox and hourly metrics, together."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.domain.errors import IllegalTransition, QueueFull
from core.domain.model import Counter, QueueConfig, QueueMode
from core.services.housekeeping import housekeeping_forever
from core.services.queues import new_join_request
from core.storage.models import HourlyMetric, OutboxMessage, QueueRow, TicketEventRow, TicketRow
from nextup.wiring import Container
from tests.conftest import FakeClock


async def make_queue(
    container: Container, code: str = "PHARM", prefix: str = "A", **config: object
) -> None:
    await container.queues.create_queue(
        code, code.title(), prefix, QueueConfig(**config), ["1", "2"]
    )  # type: ignore[arg-type]


async def test_join_writes_ticket_audit_outbox_and_metrics(container: Container) -> None:
    await make_queue(container)
    joined = await container.queues.join(
        "PHARM", new_join_request(phone="+34600111222", language="es"), "staff:ana"
    )
    ticket = await TicketRow.get(id=joined.ticket.id)
    assert (ticket.number, ticket.status, ticket.told_position) == ("A-001", "waiting", 1)
    audit = await TicketEventRow.filter(ticket_id=ticket.id)
    assert [(a.type, a.from_status, a.to_status, a.actor) for a in audit] == [
        ("ticket_joined", None, "waiting", "staff:ana")
    ]
    outbox = await OutboxMessage.filter(ticket_id=ticket.id)
    assert [(m.kind, m.channel, m.recipient, m.status) for m in outbox] == [
        ("joined", "sms", "+34600111222", "queued")
    ]
    assert outbox[0].event_id == audit[0].id
    assert outbox[0].idempotency_key == f"{audit[0].id}:sms:+34600111222"
    assert outbox[0].payload["language"] == "es"
    metric = await HourlyMetric.get(queue__code="PHARM")
    assert (metric.joined, metric.peak_size, metric.size_samples) == (1, 1, 1)


async def test_patient_without_contact_gets_no_outbox_row(container: Container) -> None:
    await make_queue(container)
    await container.queues.join("PHARM", new_join_request(), "staff:ana")
    assert await OutboxMessage.all().count() == 0


async def test_called_message_is_urgent_and_getting_close_is_sent_once(
    container: Container,
) -> None:
    await make_queue(container)
    ids = []
    for i in range(5):
        joined = await container.queues.join(
            "PHARM", new_join_request(telegram_chat_id=1000 + i), "staff:ana"
        )
        ids.append(joined.ticket.id)
    await container.queues.call_next("PHARM", "1", "staff:ana")
    called = await OutboxMessage.get(ticket_id=ids[0], kind="called")
    assert called.urgent and called.recipient == "1000" and called.channel == "telegram"
    # ticket 5 moved from position 5 to 4: not a threshold; ticket 4 moved 4 -> 3: "close"
    assert await OutboxMessage.filter(ticket_id=ids[4], kind="close").count() == 0
    assert await OutboxMessage.filter(ticket_id=ids[3], kind="close").count() == 1


async def test_a_call_writes_the_called_ticket_and_the_messages_due_whatever_the_line(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    ids = []
    for i in range(50):
        chat = {"telegram_chat_id": 2000 + i} if i < 5 else {}  # the first five have Telegram
        joined = await container.queues.join("PHARM", new_join_request(**chat), "kiosk")
        ids.append(joined.ticket.id)
    versions = dict(await TicketRow.all().values_list("id", "version"))
    audit = await TicketEventRow.all().count()
    earlier_messages = set(await OutboxMessage.all().values_list("id", flat=True))

    clock.advance(minutes=1)
    await container.queues.call_next("PHARM", "1", "staff:ana")

    now = dict(await TicketRow.all().values_list("id", "version"))
    written = {i for i, version in now.items() if version != versions[i]}
    # The called ticket, and those told they are getting close (2nd -> 1st, 4th -> 3rd):
    # their told_position changed.
    assert written == {ids[0], ids[1], ids[3]}
    new_events = await TicketEventRow.all().order_by("at", "seq").offset(audit)
    assert [(e.type, e.ticket_id, e.old_position, e.new_position) for e in new_events] == [
        ("ticket_called", ids[0], None, 1),
        ("position_changed", ids[1], 2, 1),
        ("position_changed", ids[3], 4, 3),
    ]
    messages = await OutboxMessage.exclude(id__in=earlier_messages)
    assert sorted((m.kind, m.ticket_id) for m in messages) == sorted(
        [("called", ids[0]), ("close", ids[1]), ("close", ids[3])]
    )
    # The 45 patients behind moved up without a write: their places are derived.
    status = await container.queues.status("PHARM")
    assert [t.id for t in status.queue.waiting()] == ids[1:]
    assert [t.position for t in status.queue.waiting()] == list(range(1, 50))


async def test_a_refused_command_writes_nothing(container: Container) -> None:
    await make_queue(container)
    joined = await container.queues.join("PHARM", new_join_request(phone="+34600111222"), "x")
    before = (await TicketEventRow.all().count(), await OutboxMessage.all().count())
    with pytest.raises(IllegalTransition):
        await container.queues.ticket_action(joined.ticket.id, "complete", "staff:ana")
    assert (await TicketEventRow.all().count(), await OutboxMessage.all().count()) == before
    assert (await TicketRow.get(id=joined.ticket.id)).status == "waiting"


async def test_full_queue_overflows_into_its_overflow_queue(container: Container) -> None:
    await make_queue(container, "LAB", "L")
    await make_queue(container, "PHARM", "A", capacity=1, overflow_queue="LAB")
    first = await container.queues.join("PHARM", new_join_request(), "x")
    second = await container.queues.join("PHARM", new_join_request(), "x")
    assert (first.ticket.queue, second.ticket.queue) == ("PHARM", "LAB")
    assert second.ticket.number == "L-001"
    audit = await TicketEventRow.get(ticket_id=second.ticket.id)
    assert audit.data["overflowed_from"] == "PHARM"


async def test_full_queue_without_overflow_refuses(container: Container) -> None:
    await make_queue(container, capacity=1)
    await container.queues.join("PHARM", new_join_request(), "x")
    with pytest.raises(QueueFull):
        await container.queues.join("PHARM", new_join_request(), "x")
    assert await TicketRow.all().count() == 1


async def test_numbers_restart_at_local_midnight(container: Container, clock: FakeClock) -> None:
    await make_queue(container, timezone="Europe/Madrid")
    clock.now = clock.now.replace(hour=22, minute=30)  # 23:30 in Madrid (UTC+1 in March)
    assert (await container.queues.join("PHARM", new_join_request(), "x")).ticket.number == "A-001"
    assert (await container.queues.join("PHARM", new_join_request(), "x")).ticket.number == "A-002"
    clock.advance(minutes=45)  # 00:15 next day in Madrid, still the same UTC day
    assert (await container.queues.join("PHARM", new_join_request(), "x")).ticket.number == "A-001"


async def test_transfer_keeps_number_and_join_time(container: Container, clock: FakeClock) -> None:
    await make_queue(container, "PHARM", "A")
    await make_queue(container, "LAB", "L")
    early = await container.queues.join("PHARM", new_join_request(), "x")
    clock.advance(minutes=10)
    await container.queues.join("LAB", new_join_request(), "x")
    clock.advance(minutes=1)
    moved = await container.queues.ticket_action(
        early.ticket.id, "transfer", "staff:ana", to_queue="LAB"
    )
    assert (moved.queue, moved.number, moved.position) == ("LAB", "A-001", 1)
    row = await TicketRow.get(id=early.ticket.id).prefetch_related("queue")
    assert row.queue.code == "LAB" and row.joined_at == early.ticket.joined_at
    types = [e.type for e in await TicketEventRow.filter(ticket_id=row.id).order_by("at", "seq")]
    assert types[-2:] == ["ticket_transferred_out", "ticket_transferred_in"]


async def test_service_time_is_learned_from_finished_visits(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    assert (await container.queues.status("PHARM")).service_time.basis == "default"
    for _ in range(10):
        joined = await container.queues.join("PHARM", new_join_request(), "x")
        await container.queues.call_next("PHARM", "1", "x")
        await container.queues.ticket_action(joined.ticket.id, "start", "x")
        clock.advance(minutes=2)
        await container.queues.ticket_action(joined.ticket.id, "complete", "x")
    learned = (await container.queues.status("PHARM")).service_time
    assert learned.samples == 10
    # 10 samples of 120 s shrunk towards the 300 s default weighted as 5: (1200+1500)/15
    assert learned.mean_s == pytest.approx(180.0)


async def test_service_times_are_learned_per_kind_of_visit(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container, service_times_s={"pickup": 120, "consultation": 720})
    for kind, minutes, times in (("pickup", 1, 10), ("consultation", 16, 10), (None, 5, 5)):
        for _ in range(times):
            joined = await container.queues.join("PHARM", new_join_request(service=kind), "x")
            await container.queues.call_next("PHARM", "1", "x")
            await container.queues.ticket_action(joined.ticket.id, "start", "x")
            clock.advance(minutes=minutes)
            await container.queues.ticket_action(joined.ticket.id, "complete", "x")
    stored = await TicketRow.filter(status="done").values_list("service", flat=True)
    assert sorted(stored, key=str) == [None] * 5 + ["consultation"] * 10 + ["pickup"] * 10
    queue = (await container.queues.status("PHARM")).queue
    by_kind = queue.service_times_by_kind
    assert set(by_kind) == {"pickup", "consultation"}
    # Each kind is shrunk towards its own configured time, weighted as 5 samples.
    assert by_kind["pickup"].mean_s == pytest.approx((10 * 60 + 5 * 120) / 15)
    assert by_kind["consultation"].mean_s == pytest.approx((10 * 960 + 5 * 720) / 15)
    assert (by_kind["pickup"].samples, by_kind["consultation"].samples) == (10, 10)
    # Over every visit, against the queue's default.
    assert queue.service().samples == 25
    assert queue.service().mean_s == pytest.approx((600 + 9600 + 1500 + 5 * 300) / 30)


async def test_the_fifo_call_time_is_stored_in_short_first_mode_only(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container, "FIFO", "F")
    await make_queue(container, "SHORT", "S", mode=QueueMode.SHORT_FIRST)
    start = clock.now
    for _ in range(3):
        for code in ("FIFO", "SHORT"):
            await container.queues.join(code, new_join_request(), "x")
        clock.advance(seconds=1)
    fifo = await TicketRow.filter(queue__code="FIFO").values_list("fifo_call_at", flat=True)
    assert fifo == [None] * 3
    rows = await TicketRow.filter(queue__code="SHORT").order_by("seq")
    # Two counters free, then one 300 s default visit ahead.
    assert [r.fifo_call_at - start for r in rows if r.fifo_call_at] == [
        timedelta(seconds=0),
        timedelta(seconds=1),
        timedelta(seconds=2 + 300),
    ]


async def test_the_turns_first_come_first_served_gives_are_counted_across_commands(
    container: Container, clock: FakeClock
) -> None:
    # Each command loads the queue from its row: the calls made and the joins by priority
    # must come back from storage for a turn to come at the right call.
    await make_queue(container, "SHORT", "S", mode=QueueMode.SHORT_FIRST)
    first = await container.queues.join("SHORT", new_join_request(), "x")
    second = await container.queues.join("SHORT", new_join_request(), "x")
    await container.queues.join("SHORT", new_join_request(priority=2), "x")
    rows = await TicketRow.filter(queue__code="SHORT").order_by("seq")
    assert [r.fifo_call_no for r in rows] == [1, 2, 1]
    queue_row = await QueueRow.get(code="SHORT")
    assert (queue_row.calls_made, queue_row.joins_by_priority) == (0, [2, 0, 1, 0])
    clock.advance(seconds=30)
    await container.queues.call_next("SHORT", "1", "x")  # the urgent one: its own turn
    await container.queues.ticket_action(rows[2].id, "start", "x")
    clock.advance(seconds=30)
    await container.queues.call_next("SHORT", "1", "x")  # the first one's turn
    assert (await QueueRow.get(code="SHORT")).calls_made == 2
    turned = {r.id: r for r in await TicketRow.filter(queue__code="SHORT")}
    assert turned[second.ticket.id].fifo_call_no == 2  # not yet
    assert turned[first.ticket.id].status == "called"


async def test_called_patient_who_never_comes_becomes_a_no_show(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container, no_show_grace_s=120)
    await container.queues.join("PHARM", new_join_request(), "x")
    called = await container.queues.call_next("PHARM", "1", "x")
    clock.advance(seconds=119)
    assert await container.queues.expire_called("PHARM") == []
    clock.advance(seconds=1)
    expired = await container.queues.expire_called("PHARM")
    assert [t.id for t in expired] == [called.id]
    last = await TicketEventRow.filter(ticket_id=called.id).order_by("-at", "-seq").first()
    assert last is not None and (last.type, last.actor) == ("ticket_marked_no_show", "system")
    metric = await HourlyMetric.get(queue__code="PHARM")
    assert metric.no_shows == 1


async def test_calling_from_a_closed_counter_opens_it_for_good(container: Container) -> None:
    await make_queue(container)
    await container.queues.update_queue(
        "PHARM", None, None, [Counter("1", True), Counter("2", False)]
    )
    await container.queues.join("PHARM", new_join_request(), "x")
    await container.queues.call_next("PHARM", "2", "staff:ana")
    info = await container.queues.get_queue("PHARM")
    assert [(c.name, c.is_open) for c in info.counters] == [("1", True), ("2", True)]


async def test_the_server_sweep_marks_overdue_calls_as_no_shows(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container, no_show_grace_s=60)
    await container.queues.join("PHARM", new_join_request(), "x")
    called = await container.queues.call_next("PHARM", "1", "x")
    clock.advance(seconds=61)
    sweeper = asyncio.create_task(housekeeping_forever(container.queues, sweep_interval_s=0.01))
    try:
        for _ in range(200):
            if (await TicketRow.get(id=called.id)).status == "no_show":
                break
            await asyncio.sleep(0.01)
    finally:
        sweeper.cancel()
    assert (await TicketRow.get(id=called.id)).status == "no_show"
