"""Arrival rates kept running per process (`core.services.arrival_rates`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.domain import arrivals
from core.domain.events import TicketJoined
from core.domain.model import Counter, QueueConfig, QueueMode, Ticket, TicketStatus
from core.domain.queue import Queue
from core.services.arrival_rates import LATE_COMMIT, RunningArrivalRates

NOW = datetime(2026, 3, 9, 10, tzinfo=UTC)


class StoredJoins:
    """The one query the running rates make, over a list of stored joins."""

    def __init__(self, joins: dict[str, arrivals.JoinSample]) -> None:
        self.joins = joins
        self.asked: list[datetime] = []

    async def join_samples(self, code: str, since: datetime) -> dict[str, arrivals.JoinSample]:
        self.asked.append(since)
        return {i: s for i, s in self.joins.items() if s.joined_at >= since}


def queue_of(mode: QueueMode) -> Queue:
    return Queue("A", "A", QueueConfig(mode=mode), {"1": Counter("1")})


def a_week() -> dict[str, arrivals.JoinSample]:
    return {
        f"d{day}-{n}": arrivals.JoinSample(
            NOW - timedelta(days=day, minutes=5 * n), "short", 1, None
        )
        for day in range(1, 8)
        for n in range(12)  # 12 joins in the hour before 10:00 and 10:00 itself each day
    }


def test_reads_the_week_once_then_only_polls_for_newer_joins() -> None:
    clock = [0.0]
    running = RunningArrivalRates(poll_s=2.0, monotonic=lambda: clock[0])
    stored = StoredJoins(a_week())
    queue = queue_of(QueueMode.SHORT_FIRST)
    rates = asyncio.run(running.learned(queue, NOW, stored))  # type: ignore[arg-type]
    assert rates == arrivals.learn_arrival_rates(stored.joins.values(), NOW, "UTC")
    assert stored.asked == [NOW - arrivals.ARRIVAL_WINDOW]
    asyncio.run(running.learned(queue, NOW, stored))  # type: ignore[arg-type]
    assert len(stored.asked) == 1  # within the poll interval: nothing asked
    clock[0] = 5.0
    asyncio.run(running.learned(queue, NOW, stored))  # type: ignore[arg-type]
    newest = NOW - timedelta(days=1)
    assert stored.asked[-1] == newest - LATE_COMMIT  # only from the newest join seen on


def test_takes_in_the_joins_this_process_commits() -> None:
    running = RunningArrivalRates(poll_s=1e9, monotonic=lambda: 0.0)
    stored = StoredJoins(a_week())
    queue = queue_of(QueueMode.DYNAMIC)
    before = asyncio.run(running.learned(queue, NOW, stored))  # type: ignore[arg-type]
    ticket = Ticket("new", "A", "A1", 1, "tok", NOW, NOW, priority=3, service="short")
    queue.tickets[ticket.id] = ticket
    joined = TicketJoined(
        queue="A",
        at=NOW,
        actor="p",
        ticket_id="new",
        number="A1",
        from_status=None,
        to_status=TicketStatus.WAITING,
        position=1,
        priority=3,
    )
    running.committed({"A": queue}, [joined])
    after = asyncio.run(running.learned(queue, NOW, stored))  # type: ignore[arg-type]
    assert arrivals.ArrivalClass("short", 3, False) in after
    assert arrivals.ArrivalClass("short", 3, False) not in before


def test_a_fifo_queue_asks_for_nothing() -> None:
    stored = StoredJoins(a_week())
    rates = asyncio.run(RunningArrivalRates().learned(queue_of(QueueMode.FIFO), NOW, stored))  # type: ignore[arg-type]
    assert rates == {} and stored.asked == []
