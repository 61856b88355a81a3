"""The command path's storage without ORM objects, and service times kept running."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, timedelta

import pytest

from core.bus.memory import InProcessBus
from core.domain import eta
from core.domain.hourly import HourlyTally
from core.domain.model import QueueConfig, Ticket, TicketStatus
from core.services.queues import QueueService, QueueStatus, new_join_request
from core.storage.errors import ConcurrentUpdate
from core.storage.mapping import TICKET_FIELDS, ticket_columns
from core.storage.models import HourlyMetric, QueueRow, TicketRow
from core.storage.patients import choose_language
from core.storage.queues import TortoiseQueueRepository
from nextup.wiring import Container
from tests.conftest import FakeClock
from tests.unit.fakes import FakeQueueRepository

KINDS = {"pickup": 120, "advice": 600}


async def make_queue(container: Container) -> None:
    await container.queues.create_queue(
        "PHARM", "Pharmacy", "A", QueueConfig(service_times_s=KINDS), ["1", "2"]
    )


def every_field_set(queue: str, now: datetime, shift_s: int = 0) -> Ticket:
    """A live ticket with no field at its default, so any column a load or a save leaves
    out shows."""
    at = now.replace(microsecond=123456) + timedelta(seconds=shift_s)
    ticket = Ticket(
        id="0f0e0d0c-0000-4000-8000-000000000001",
        queue=queue,
        number=f"A-{100 + shift_s}",
        seq=100 + shift_s,
        token=f"token-{shift_s}",
        joined_at=at - timedelta(minutes=30),
        line_at=at - timedelta(minutes=20),
        status=TicketStatus.SERVING,
        priority=2 + shift_s % 2,
        appointment_at=at + timedelta(hours=1),
        position=7 + shift_s,
        counter=f"counter-{shift_s}",
        called_at=at - timedelta(minutes=3),
        recalled_at=at - timedelta(minutes=2),
        started_at=at - timedelta(minutes=1),
        finished_at=at + timedelta(minutes=9),
        recall_count=1 + shift_s,
        name=f"Ana {shift_s}",
        phone=f"+3460011122{shift_s}",
        telegram_chat_id=9_000_000_001 + shift_s,
        language="es",
        late_count=1 + shift_s % 2,
        travel_s=600 + shift_s,
        announced_eta_s=900 + shift_s,
        announced_at=at - timedelta(minutes=5),
        leave_now_sent=True,
        acknowledged_at=at - timedelta(seconds=150),
        rating=4 + shift_s % 2,
        service="advice",
        fifo_call_at=at + timedelta(minutes=4),
        fifo_call_no=40 + shift_s,
        told_position=3 + shift_s,
        unreachable_at=at + timedelta(minutes=5, seconds=shift_s),
    )
    defaults = {field.name: field.default for field in dataclasses.fields(Ticket)}
    for name in TICKET_FIELDS:
        assert getattr(ticket, name) != defaults[name], f"{name} is at its default"
    return ticket


def stored(tickets: dict[str, Ticket]) -> dict[str, dict[str, object]]:
    """What is stored of each ticket: the fields derived on loading are left out."""
    return {i: {name: getattr(t, name) for name in TICKET_FIELDS} for i, t in tickets.items()}


async def test_every_ticket_field_round_trips_through_the_lean_load_and_save(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    store = TortoiseQueueRepository()
    written = every_field_set("PHARM", clock())
    async with store.transaction(clock()) as uow:
        queue = await uow.load("PHARM")
        queue.tickets[written.id] = written
        queue.touched.add(written.id)
        await uow.save({"PHARM": queue}, [])
    loaded = (await store.reading(clock()).load("PHARM", lock=False)).tickets
    assert stored(loaded) == stored({written.id: written})

    # Every field changed: the version-checked update writes them all.
    changed = dataclasses.replace(every_field_set("PHARM", clock(), shift_s=1), id=written.id)
    async with store.transaction(clock()) as uow:
        queue = await uow.load("PHARM")
        for name in TICKET_FIELDS:
            setattr(queue.tickets[written.id], name, getattr(changed, name))
        queue.touched.add(written.id)
        await uow.save({"PHARM": queue}, [])
    reloaded = (await store.reading(clock()).load("PHARM", lock=False)).tickets
    assert stored(reloaded) == stored({written.id: changed})
    assert (await TicketRow.get(id=written.id)).version == 1


async def test_a_ticket_written_since_it_was_loaded_is_not_overwritten(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    joined = await container.queues.join("PHARM", new_join_request(name="Ana"), "x")
    store = TortoiseQueueRepository()
    stale = store.reading(clock())
    queue = await stale.load("PHARM", lock=False)
    await container.queues.call_next("PHARM", "1", "x")
    queue.tickets[joined.ticket.id].name = "Someone else"
    queue.touched.add(joined.ticket.id)
    with pytest.raises(ConcurrentUpdate):
        await stale.save({"PHARM": queue}, [])
    row = await TicketRow.get(id=joined.ticket.id)
    assert (row.name, row.status) == ("Ana", "called")


async def test_the_queue_row_and_counters_load_with_the_line(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    await container.queues.join("PHARM", new_join_request(), "x")
    queue = await TortoiseQueueRepository().reading(clock()).load("PHARM", lock=False)
    assert (queue.code, queue.prefix, queue.day_seq, queue.day_seq_date) == (
        "PHARM",
        "A",
        1,
        clock().date(),
    )
    assert isinstance(queue.day_seq_date, date)
    assert [(c.name, c.is_open) for c in queue.counters.values()] == [("1", True), ("2", True)]
    assert queue.config.service_times_s == KINDS


async def visit(service: QueueService, clock: FakeClock, kind: str | None, minutes: float) -> None:
    joined = await service.join("PHARM", new_join_request(service=kind), "x")
    await service.call_next("PHARM", "1", "x")
    clock.advance(minutes=minutes)
    await service.ticket_action(joined.ticket.id, "complete", "x")


async def stored_samples() -> list[eta.ServiceSample]:
    rows = await TicketRow.filter(status="done").values_list("called_at", "finished_at", "service")
    return [eta.ServiceSample(done, (done - called).total_seconds(), k) for called, done, k in rows]


async def test_visits_ended_by_another_process_reach_its_next_command(
    container: Container, clock: FakeClock
) -> None:
    """Two services on one database stand for two server processes: each learns what the
    other ended (through the database) and what it ended itself (as it commits)."""
    await make_queue(container)
    here = container.queues
    there = QueueService(InProcessBus(), clock)
    there.service_times.poll_s = 0.0  # asks the database at every command
    here.service_times.poll_s = math.inf  # never asks again: learns its own visits as it ends them
    assert (await there.status("PHARM")).service_time.basis == "default"
    assert (await here.status("PHARM")).service_time.basis == "default"

    for kind, minutes in [("pickup", 2), ("advice", 11), (None, 5), ("pickup", 3)] * 3:
        await visit(here, clock, kind, minutes)
    await visit(there, clock, "advice", 9)
    # Ended by a command that read its clock before the last one and committed after it.
    queue_id = (await QueueRow.get(code="PHARM")).id
    late = dataclasses.replace(
        every_field_set("PHARM", clock()),
        status=TicketStatus.DONE,
        token="late",
        called_at=clock() - timedelta(minutes=6),
        finished_at=clock() - timedelta(minutes=1),
    )
    await TicketRow.create(id=late.id, queue_id=queue_id, **ticket_columns(late))

    samples = await stored_samples()
    assert len(samples) == 14
    expected = eta.learn_service_times(samples, clock(), "UTC", 300, KINDS)
    seen_there = (await there.status("PHARM")).queue
    assert (seen_there.service_time, seen_there.service_times_by_kind) == expected
    assert seen_there.service_time.samples == 14

    # Here, its own 12 visits without a query; the other process's two once it asks.
    seen_here = (await here.status("PHARM")).queue
    assert seen_here.service_time.samples == 12
    here.service_times.poll_s = 0.0
    seen_here = (await here.status("PHARM")).queue
    assert (seen_here.service_time, seen_here.service_times_by_kind) == expected


async def test_the_learned_figures_follow_the_clock_and_the_settings(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    service = container.queues
    for _ in range(8):
        await visit(service, clock, "pickup", 4)
    hour = (await service.status("PHARM")).service_time
    assert (hour.basis, hour.samples) == ("hour", 8)
    clock.advance(hours=1)  # a new hour of day without samples of its own
    week = (await service.status("PHARM")).service_time
    assert (week.basis, week.samples) == ("week", 8)
    # A new default moves the prior the samples are shrunk towards, at once.
    await service.put_config("PHARM", QueueConfig(default_service_s=600, service_times_s=KINDS))
    moved = (await service.status("PHARM")).service_time
    assert moved.mean_s == pytest.approx((8 * 240 + 5 * 600) / 13)
    assert week.mean_s == pytest.approx((8 * 240 + 5 * 300) / 13)
    clock.advance(days=7)  # every sample is older than the week
    assert (await service.status("PHARM")).service_time == eta.configured(600)


async def day_of_commands(service: QueueService, clock: FakeClock) -> None:
    """Joins, calls, visits, a no-show and a cancel across two hours."""
    joined = [
        (await service.join("PHARM", new_join_request(name=f"p{n}"), "x")).ticket for n in range(5)
    ]
    clock.advance(minutes=7)
    first = await service.call_next("PHARM", "1", "x")
    clock.advance(minutes=13.25)
    second = await service.call_next("PHARM", "2", "x")
    clock.advance(minutes=4.5)
    await service.ticket_action(first.id, "complete", "x")
    await service.ticket_action(joined[4].id, "cancel", "x")
    clock.advance(minutes=41)  # into the next hour
    await service.ticket_action(second.id, "no-show", "x")
    third = await service.call_next("PHARM", "1", "x")
    clock.advance(seconds=333.3)
    await service.ticket_action(third.id, "complete", "x")


async def test_the_hourly_upsert_stores_the_tallys_figures(
    container: Container, clock: FakeClock
) -> None:
    """The same commands through the database and through the in-memory store, which adds
    each command to its `HourlyTally`: the same rows, figure for figure."""
    in_memory = FakeQueueRepository()
    twin_clock = FakeClock(clock())
    twin = QueueService(InProcessBus(), twin_clock, store=in_memory)
    await make_queue(container)
    await twin.create_queue(
        "PHARM", "Pharmacy", "A", QueueConfig(service_times_s=KINDS), ["1", "2"]
    )
    await day_of_commands(container.queues, clock)
    await day_of_commands(twin, twin_clock)
    stored = await HourlyMetric.all().order_by("hour_start")
    assert [HourlyTally.of_record(row) for row in stored] == [
        in_memory.hourly[key] for key in sorted(in_memory.hourly)
    ]
    assert len(stored) == 2


async def test_a_ticket_written_off_the_command_path_is_reloaded(
    container: Container, clock: FakeClock
) -> None:
    """The service keeps its queues' rows between commands and reloads those whose version
    moved on: a patient choosing a language by text writes a new version."""
    await make_queue(container)
    joined = await container.queues.join("PHARM", new_join_request(phone="+34600111222"), "x")
    assert (await container.queues.status("PHARM")).queue.tickets[joined.ticket.id].language is None
    await choose_language("sms", "+34600111222", {"phone": "+34600111222"}, "es")
    status = await container.queues.status("PHARM")
    assert status.queue.tickets[joined.ticket.id].language == "es"
    called = await container.queues.call_next("PHARM", "1", "x")
    assert (called.id, called.language) == (joined.ticket.id, "es")
    assert (await TicketRow.get(id=called.id)).language == "es"


async def _command_load(store: TortoiseQueueRepository, now: datetime) -> dict[str, Ticket]:
    """The tickets a command's unit of work loads, committed without a change."""
    async with store.transaction(now) as uow:
        return (await uow.load("PHARM")).tickets


async def test_a_command_takes_over_the_tickets_the_last_one_committed(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    for name in ("Ana", "Ben", "Cleo"):
        await container.queues.join("PHARM", new_join_request(name=name), "x")
    store = TortoiseQueueRepository()
    first = await _command_load(store, clock())
    second = await _command_load(store, clock())
    assert all(second[i] is first[i] for i in first)  # not made again from their rows

    # Written by another process (or by hand) since: that one is made from its new row.
    ben = next(t for t in first.values() if t.name == "Ben")
    # Written once so far (its join, version 0): a write by anyone gives it version 1.
    await TicketRow.filter(id=ben.id).update(name="Benjamin", version=1)
    third = await _command_load(store, clock())
    assert third[ben.id] is not ben and third[ben.id].name == "Benjamin"
    assert all(third[i] is second[i] for i in second if i != ben.id)


async def test_what_a_failed_command_changed_in_memory_is_never_seen(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    joined = await container.queues.join("PHARM", new_join_request(name="Ana"), "x")
    store = TortoiseQueueRepository()
    await _command_load(store, clock())
    with pytest.raises(RuntimeError):
        async with store.transaction(clock()) as uow:
            queue = await uow.load("PHARM")
            queue.tickets[joined.ticket.id].name = "Changed, then rolled back"
            raise RuntimeError("the command failed")
    again = await _command_load(store, clock())
    assert again[joined.ticket.id].name == "Ana"


async def test_a_change_the_domain_did_not_record_as_touched_is_refused_in_the_suite(
    container: Container, clock: FakeClock
) -> None:
    await make_queue(container)
    joined = await container.queues.join("PHARM", new_join_request(name="Ana"), "x")
    store = TortoiseQueueRepository()
    with pytest.raises(AssertionError, match="changed but not touched"):
        async with store.transaction(clock()) as uow:
            queue = await uow.load("PHARM")
            queue.tickets[joined.ticket.id].name = "Written without an event"
            await uow.save({"PHARM": queue}, [])
    assert (await TicketRow.get(id=joined.ticket.id)).name == "Ana"


async def test_what_a_command_returns_is_not_changed_by_the_next_one(
    container: Container,
) -> None:
    await make_queue(container)
    await container.queues.join("PHARM", new_join_request(name="Ana"), "x")
    called = await container.queues.call_next("PHARM", "1", "x")
    kept: list[QueueStatus] = []
    container.queues.on_committed(lambda commit: kept.append(commit.statuses[0].detached()))
    await container.queues.ticket_action(called.id, "complete", "x")
    await container.queues.join("PHARM", new_join_request(name="Ben"), "x")
    assert called.status is TicketStatus.CALLED  # as the call left it
    after_complete = kept[0].queue.tickets[called.id]
    assert after_complete.status is TicketStatus.DONE
    assert [t.name for t in kept[0].queue.waiting()] == []  # Ben joined after it was kept
