"""QueueService over the in-memory store: the command path (load, command, settle, save,
publish) without a database, a server or a network."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime

import pytest

from core.bus import Message
from core.bus.memory import InProcessBus
from core.domain.errors import InvalidValue, QueueClosed, QueueEmpty
from core.domain.model import QueueConfig, Ticket, TicketStatus
from core.domain.queue import Queue
from core.services.errors import Forbidden
from core.services.queues import Committed, QueueService, new_join_request
from core.storage.errors import ConcurrentUpdate, NotFound
from tests.conftest import FakeClock
from tests.unit.fakes import FakeQueueRepository

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> FakeQueueRepository:
    return FakeQueueRepository()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def bus() -> InProcessBus:
    return InProcessBus()


@pytest.fixture
async def service(store: FakeQueueRepository, clock: FakeClock, bus: InProcessBus) -> QueueService:
    service = QueueService(bus, clock, store=store)
    await service.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1", "2"])
    await service.create_queue("LAB", "Laboratory", "L", QueueConfig(), ["1"])
    return service


async def published(bus: InProcessBus, command: Awaitable[object]) -> list[str]:
    """The types of the messages published while `command` ran."""
    subscription = await bus.subscribe()
    await command
    types = []
    while (message := await subscription.get(timeout_s=0)) is not None:
        types.append(message_type(message))
    await subscription.close()
    return types


def message_type(message: Message) -> str:
    return str(message["type"])


async def test_join_stores_the_ticket_with_its_number_and_estimate(
    service: QueueService, store: FakeQueueRepository
) -> None:
    joined = await service.join("PHARM", new_join_request(), "staff:alice")
    second = await service.join("PHARM", new_join_request(), "staff:alice")

    assert (joined.ticket.number, second.ticket.number) == ("A-001", "A-002")
    assert joined.estimate is not None and not joined.existing
    # the wait settling advised, as a read of the queue forecasts it
    assert second.estimate == (await service.status("PHARM")).estimates[second.ticket.id]
    assert store.tickets[second.ticket.id].status is TicketStatus.WAITING
    assert second.ticket.position == 2
    assert store.tickets[second.ticket.id].position is None  # derived, never stored
    assert store.queues["PHARM"].day_seq == 2
    # every read ranks the line it loads
    view = await service.ticket_view(second.ticket.id)
    assert (view.ticket.position, view.estimate) == (2, second.estimate)
    status = await service.status("PHARM")
    assert [t.position for t in status.queue.waiting()] == [1, 2]


async def test_joining_twice_from_one_phone_returns_the_live_ticket(
    service: QueueService, store: FakeQueueRepository
) -> None:
    first = await service.join("PHARM", new_join_request(phone="+15550100"), "patient:sms")
    again = await service.join("PHARM", new_join_request(phone="+15550100"), "patient:sms")

    assert again.existing and again.ticket.id == first.ticket.id
    assert len(store.tickets) == 1


async def test_call_next_calls_the_first_in_line(
    service: QueueService, store: FakeQueueRepository, clock: FakeClock
) -> None:
    first = await service.join("PHARM", new_join_request(), "kiosk")
    clock.advance(minutes=1)
    await service.join("PHARM", new_join_request(), "kiosk")
    clock.advance(minutes=4)

    called = await service.call_next("PHARM", "2", "staff:alice")

    assert called.id == first.ticket.id
    stored = store.tickets[first.ticket.id]
    assert (stored.status, stored.counter, stored.called_at) == (TicketStatus.CALLED, "2", clock())
    status = await service.status("PHARM")
    assert [t.number for t in status.queue.waiting()] == ["A-002"]
    tally = store.hourly["PHARM", START]
    assert (tally.joined, tally.called, tally.wait_s_sum) == (2, 1, 300.0)


async def test_call_next_on_an_empty_queue_stores_and_publishes_nothing(
    service: QueueService, store: FakeQueueRepository, bus: InProcessBus
) -> None:
    commits = store.commits
    with pytest.raises(QueueEmpty):
        await published(bus, service.call_next("PHARM", "1", "staff:alice"))
    assert store.commits == commits and store.audit == []


async def test_an_action_on_an_unknown_ticket_is_not_found(service: QueueService) -> None:
    with pytest.raises(NotFound) as raised:
        await service.ticket_action("no-such-ticket", "cancel", "staff:alice")
    assert raised.value.code == "ticket_not_found"


async def test_an_unknown_action_is_refused(service: QueueService) -> None:
    joined = await service.join("PHARM", new_join_request(), "kiosk")
    with pytest.raises(InvalidValue, match="unknown action 'jump'"):
        await service.ticket_action(joined.ticket.id, "jump", "staff:alice")


async def test_transfer_moves_the_ticket_to_the_other_queue(
    service: QueueService, store: FakeQueueRepository
) -> None:
    joined = await service.join("PHARM", new_join_request(telegram_chat_id=42), "patient:bot")

    moved = await service.ticket_action(joined.ticket.id, "transfer", "staff:alice", to_queue="LAB")

    assert (moved.queue, moved.number, moved.status) == ("LAB", "A-001", TicketStatus.WAITING)
    assert store.tickets[joined.ticket.id].queue == "LAB"
    assert [e.type_name() for e in store.audit[-2:]] == [
        "ticket_transferred_out",
        "ticket_transferred_in",
    ]
    assert [i.kind for _, i in store.outbox] == ["joined", "transferred"]
    assert (await service.status("PHARM")).queue.waiting() == []
    assert [t.id for t in (await service.status("LAB")).queue.waiting()] == [joined.ticket.id]


async def test_a_command_publishes_its_events_in_order_after_saving_them(
    service: QueueService, store: FakeQueueRepository, bus: InProcessBus
) -> None:
    joined = await service.join("PHARM", new_join_request(telegram_chat_id=7), "patient:bot")

    types = await published(bus, service.call_next("PHARM", "1", "staff:alice"))
    assert types == ["ticket_called", "line_moved"]  # the line's news is no ticket's event
    types = await published(bus, service.ticket_action(joined.ticket.id, "complete", "staff:alice"))
    assert types == ["ticket_started", "ticket_completed"]
    assert [e.type_name() for e in store.audit] == [
        "ticket_joined",
        "ticket_called",
        "ticket_started",
        "ticket_completed",
    ]
    assert [(i.kind, i.recipient, i.urgent) for _, i in store.outbox] == [
        ("joined", "7", False),
        ("called", "7", True),
        ("done", "7", False),
    ]


async def test_settling_advises_the_patients_behind_of_a_new_wait(
    service: QueueService, store: FakeQueueRepository, clock: FakeClock
) -> None:
    """Settle runs on every command: when the wait of a patient behind moves enough, the
    same command stores an `eta_changed` notice for them."""
    await service.put_config("LAB", QueueConfig(default_service_s=1200, notify_positions=()))
    first = await service.join("LAB", new_join_request(), "kiosk")
    behind = await service.join("LAB", new_join_request(telegram_chat_id=9), "patient:bot")
    clock.advance(minutes=30)

    await service.ticket_action(first.ticket.id, "cancel", "staff:alice")

    kinds = [(e.ticket_id, i.kind) for e, i in store.outbox]
    assert kinds == [(behind.ticket.id, "joined"), (behind.ticket.id, "eta_changed")]


async def test_a_ticket_changed_meanwhile_is_a_concurrent_update(
    service: QueueService, store: FakeQueueRepository
) -> None:
    joined = await service.join("PHARM", new_join_request(), "kiosk")
    ticket_id = joined.ticket.id

    def cancel_after_someone_else_changed_it(queue: Queue, now: datetime) -> Ticket:
        store.versions[ticket_id] += 1
        return queue.cancel(ticket_id, now, "staff:alice")

    with pytest.raises(ConcurrentUpdate):
        await service.on_ticket(ticket_id, cancel_after_someone_else_changed_it)
    assert store.tickets[ticket_id].status is TicketStatus.WAITING


async def test_a_call_in_a_long_line_writes_only_the_called_ticket(
    service: QueueService, store: FakeQueueRepository, bus: InProcessBus
) -> None:
    for _ in range(30):
        await service.join("PHARM", new_join_request(), "kiosk")
    versions = dict(store.versions)
    audit, outbox = len(store.audit), len(store.outbox)

    call = service.call_next("PHARM", "1", "staff:alice")
    assert await published(bus, call) == ["ticket_called", "line_moved"]
    [called] = [t for t in store.tickets.values() if t.status is TicketStatus.CALLED]

    written = {i for i, v in store.versions.items() if versions.get(i) != v}
    assert written == {called.id}
    assert [e.type_name() for e in store.audit[audit:]] == ["ticket_called"]
    assert len(store.outbox) == outbox
    waiting = [t.position for t in (await service.status("PHARM")).queue.waiting()]
    assert waiting == list(range(1, 30))


async def test_listeners_are_told_each_commit_with_the_state_it_left(
    service: QueueService, bus: InProcessBus
) -> None:
    for n in range(3):
        await service.join("PHARM", new_join_request(name=f"P{n}"), "staff:ann")
    told: list[Committed] = []
    service.on_committed(told.append)
    subscription = await bus.subscribe()
    called = await service.call_next("PHARM", "1", "staff:ann")
    (commit,) = told
    (status,) = commit.statuses  # only the queue the command changed
    assert status.queue.tickets[called.id].status is TicketStatus.CALLED
    assert [t.position for t in status.queue.waiting()] == [1, 2]
    assert set(status.estimates) == {t.id for t in status.queue.waiting()}
    # the forecast settling made, the same as a read of the queue forecasts afresh
    assert status.estimates == (await service.status("PHARM")).estimates
    assert status.updated_at == START
    published = []
    while (message := await subscription.get(timeout_s=0)) is not None:
        published.append(message)
    assert commit.messages == published  # told before the bus, the same messages


async def test_a_failing_listener_leaves_the_commit_and_the_others(
    service: QueueService, bus: InProcessBus
) -> None:
    await service.join("PHARM", new_join_request(name="P"), "staff:ann")

    def broken(commit: Committed) -> None:
        raise RuntimeError("listener bug")

    told: list[Committed] = []
    service.on_committed(broken)
    service.on_committed(told.append)
    assert "ticket_called" in await published(bus, service.call_next("PHARM", "1", "staff:ann"))
    assert len(told) == 1
    assert (await service.status("PHARM")).queue.waiting() == []


@pytest.mark.parametrize("actor", ["patient:web", "patient:telegram", "patient:sms", "system"])
async def test_only_staff_may_force_a_join(service: QueueService, actor: str) -> None:
    await service.pause("PHARM", None, "staff:ana")
    with pytest.raises(Forbidden, match="only staff"):
        await service.join("PHARM", new_join_request(force=True), actor)
    with pytest.raises(QueueClosed):
        await service.join("PHARM", new_join_request(), actor)
    forced = await service.join("PHARM", new_join_request(force=True), "staff:ana")
    assert forced.ticket.number == "A-001"


async def test_pause_and_resume_are_published_for_the_live_pages(
    service: QueueService, bus: InProcessBus
) -> None:
    assert await published(bus, service.pause("PHARM", "Back at 11", "staff:ana")) == [
        "queue_paused"
    ]
    assert await published(bus, service.resume("PHARM", "staff:ana")) == ["queue_resumed"]
    assert await published(bus, service.resume("PHARM", "staff:ana")) == []  # not paused
