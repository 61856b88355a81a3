"""The timer's re-evaluation of quiet lines through QueueService, over the in-memory store:
what is stored and published, and how a round claimed elsewhere does nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.bus.memory import InProcessBus
from core.domain.model import QueueConfig
from core.services.housekeeping import is_due, reevaluate_lines, sweep_no_shows
from core.services.queues import LiveLine, QueueService, new_join_request
from tests.conftest import FakeClock
from tests.unit.fakes import FakeQueueRepository
from tests.unit.services.test_queue_service import published

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INTERVAL_S = 30.0


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
    config = QueueConfig(default_service_s=600, notify_positions=(), eta_update_interval_s=120)
    await service.create_queue("PHARM", "Pharmacy", "A", config, ["1"])
    await service.create_queue("EMPTY", "Nobody here", "E", QueueConfig(), ["1"])
    return service


async def busy_line(service: QueueService) -> str:
    """A visit at the counter from now, two walk-ins, then a Telegram patient 15 minutes
    from home; returns that patient's ticket id."""
    for _ in range(3):
        await service.join("PHARM", new_join_request(), "staff")
    joined = await service.join("PHARM", new_join_request(telegram_chat_id=7, travel_s=900), "x")
    await service.call_next("PHARM", "1", "staff")
    return joined.ticket.id


async def test_a_quiet_line_hears_leave_now_once_with_no_command(
    service: QueueService, store: FakeQueueRepository, clock: FakeClock, bus: InProcessBus
) -> None:
    patient = await busy_line(service)
    sent_before = len(store.outbox)
    clock.advance(seconds=300)

    types = await published(bus, reevaluate_lines(service, INTERVAL_S))

    assert types == ["leave_now_advised"]
    assert [(e.ticket_id, i.kind.value) for e, i in store.outbox[sent_before:]] == [
        (patient, "leave_now")
    ]
    assert store.queues["PHARM"].reevaluated_at == clock.now
    assert store.queues["EMPTY"].reevaluated_at is None, "a queue nobody waits in is left"


async def test_nothing_is_written_when_time_changed_nothing(
    service: QueueService, store: FakeQueueRepository, clock: FakeClock, bus: InProcessBus
) -> None:
    await service.join("PHARM", new_join_request(telegram_chat_id=1), "x")  # counter idle
    commits, audit = store.commits, len(store.audit)
    clock.advance(seconds=600)

    assert await published(bus, reevaluate_lines(service, INTERVAL_S)) == []
    assert (store.commits, len(store.audit)) == (commits, audit)
    assert store.queues["PHARM"].reevaluated_at == clock.now  # the round's stamp alone


async def test_a_line_is_re_evaluated_once_per_interval(
    service: QueueService, store: FakeQueueRepository, clock: FakeClock
) -> None:
    await busy_line(service)
    assert await reevaluate_lines(service, INTERVAL_S) == {"PHARM": 0}
    clock.advance(seconds=INTERVAL_S / 2)
    assert await reevaluate_lines(service, INTERVAL_S) == {}, "not due yet"
    clock.advance(seconds=INTERVAL_S / 2)
    assert list(await reevaluate_lines(service, INTERVAL_S)) == ["PHARM"]


async def test_a_round_another_process_did_since_the_read_does_nothing(
    service: QueueService, store: FakeQueueRepository, clock: FakeClock, bus: InProcessBus
) -> None:
    await busy_line(service)
    clock.advance(seconds=300)
    [line] = await service.live_lines()
    other = QueueService(bus, clock, store=store)  # another process on the same store
    assert await other.reevaluate(line) == 1  # leave now
    outbox = len(store.outbox)

    assert await service.reevaluate(line) is None
    assert len(store.outbox) == outbox


async def test_one_failing_queue_does_not_hold_up_the_others(
    service: QueueService,
    store: FakeQueueRepository,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await busy_line(service)
    await service.join("EMPTY", new_join_request(), "x")
    reevaluate = service.reevaluate

    async def failing_on_empty(line: LiveLine, actor: str = "t") -> int | None:
        if line.code == "EMPTY":
            raise RuntimeError("boom")
        return await reevaluate(line)

    monkeypatch.setattr(service, "reevaluate", failing_on_empty)
    clock.advance(seconds=300)
    assert await reevaluate_lines(service, INTERVAL_S) == {"PHARM": 1}


def test_a_line_is_due_at_its_interval_give_or_take_a_tick() -> None:
    assert is_due(None, START, INTERVAL_S)
    assert not is_due(START, START, INTERVAL_S)
    assert not is_due(START, FakeClock(START).advance(seconds=20), INTERVAL_S)
    assert is_due(START, FakeClock(START).advance(seconds=29.5), INTERVAL_S)
    assert is_due(START, FakeClock(START).advance(seconds=300), INTERVAL_S)


async def test_one_round_sweeps_the_queues_with_somebody_called_and_no_other(
    service: QueueService, store: FakeQueueRepository, clock: FakeClock
) -> None:
    await service.put_config("PHARM", QueueConfig(no_show_grace_s=60))
    await service.join("PHARM", new_join_request(), "x")
    called = await service.call_next("PHARM", "1", "staff")
    await service.join("EMPTY", new_join_request(), "x")  # waiting, nobody called
    lines = await service.live_lines()
    assert [(line.code, line.waiting, line.called) for line in lines] == [
        ("EMPTY", True, False),
        ("PHARM", False, True),
    ]
    commits = store.commits
    clock.advance(seconds=61)

    assert await sweep_no_shows(service, lines) == 1
    assert store.tickets[called.id].status.value == "no_show"
    assert store.commits == commits + 1, "one command: the queue where somebody was called"
