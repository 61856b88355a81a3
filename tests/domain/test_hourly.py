"""Hourly metric rows: the rules one committed command adds to its hour by."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from core.domain.events import LineMoved
from core.domain.hourly import HourlyTally, hour_of
from core.domain.queue import Queue
from tests.domain.conftest import build_queue, join_ticket

NINE = datetime(2026, 3, 2, 9, tzinfo=UTC)
STAFF = "staff"

Step = tuple[int, str, str]
"""(minutes after 09:00, action, ticket id): one committed command."""


def transfer_in(queue: Queue, ticket_id: str, at: datetime) -> None:
    """The ticket joined queue B ten minutes before 09:00 and moves to `queue` now.

    B shares the event list, as in one unit of work, so B's events reach the tally too.
    """
    other = build_queue(code="B")
    other.events = queue.events
    join_ticket(other, ticket_id, NINE - timedelta(minutes=10))
    ticket = other.transfer_out(ticket_id, queue.code, at, STAFF)
    queue.accept_transfer(ticket, "B", at, STAFF)


ACTIONS: dict[str, Callable[[Queue, str, datetime], Any]] = {
    "join": join_ticket,
    "call": lambda q, t, at: q.call(t, "1", at, STAFF),
    "recall": lambda q, t, at: q.recall(t, at, STAFF),
    "start": lambda q, t, at: q.start(t, at, STAFF),
    "complete": lambda q, t, at: q.complete(t, at, STAFF),
    "no-show": lambda q, t, at: q.mark_no_show(t, at, STAFF),
    "cancel": lambda q, t, at: q.cancel(t, at, STAFF),
    "return": lambda q, t, at: q.return_to_line(t, at, STAFF),
    "transfer-in": transfer_in,
}


def run(steps: list[Step]) -> HourlyTally:
    queue = build_queue(code="A")
    tally = HourlyTally(hour_start=hour_of(NINE))
    for minute, action, ticket_id in steps:
        ACTIONS[action](queue, ticket_id, NINE + timedelta(minutes=minute))
        tally.add(queue.events, queue)
        queue.events.clear()
    return tally


def observed(tally: HourlyTally, names: set[str]) -> dict[str, Any]:
    averages = {
        "avg_wait_s": tally.avg_wait_s,
        "avg_service_s": tally.avg_service_s,
        "avg_size": tally.avg_size,
    }
    return {k: v for k, v in (tally.figures() | averages).items() if k in names}


CASES: list[tuple[str, list[Step], dict[str, Any]]] = [
    (
        "a join counts and samples the line",
        [(0, "join", "a")],
        {"joined": 1, "called": 0, "peak_size": 1, "size_sum": 1, "size_samples": 1},
    ),
    (
        "a transfer in counts as joined; the other queue's events do not count",
        [(5, "transfer-in", "x")],
        {"joined": 1, "size_samples": 1, "peak_size": 1},
    ),
    (
        "wait is join -> call, summed, with its maximum",
        [(0, "join", "a"), (5, "join", "b"), (10, "call", "a"), (30, "call", "b")],
        {
            "called": 2,
            "wait_s_sum": 600.0 + 1500.0,
            "wait_s_max": 1500.0,
            "avg_wait_s": 1050.0,
        },
    ),
    (
        "a transferred ticket waits from its first join",
        [(5, "transfer-in", "x"), (10, "call", "x")],
        {"joined": 1, "called": 1, "wait_s_sum": 1200.0, "wait_s_max": 1200.0},
    ),
    (
        "a recall is not a new call",
        [(0, "join", "a"), (10, "call", "a"), (12, "recall", "a")],
        {"called": 1, "wait_s_sum": 600.0, "avg_wait_s": 600.0},
    ),
    (
        "a ticket returned to the line and called again counts twice",
        [(0, "join", "a"), (10, "call", "a"), (15, "return", "a"), (20, "call", "a")],
        {"called": 2, "wait_s_sum": 600.0 + 1200.0, "wait_s_max": 1200.0},
    ),
    (
        "service is call -> done, not start -> done",
        [(0, "join", "a"), (10, "call", "a"), (12, "start", "a"), (20, "complete", "a")],
        {"completed": 1, "service_s_sum": 600.0, "avg_service_s": 600.0, "no_shows": 0},
    ),
    (
        "a no-show is counted, not completed",
        [(0, "join", "a"), (10, "call", "a"), (15, "no-show", "a")],
        {"called": 1, "no_shows": 1, "completed": 0, "service_s_sum": 0.0},
    ),
    (
        "a cancel is counted and leaves the line",
        [(0, "join", "a"), (1, "join", "b"), (2, "cancel", "a")],
        {"joined": 2, "cancelled": 1, "peak_size": 2, "size_sum": 1 + 2 + 1},
    ),
    (
        "peak and average size over the samples after each command",
        [
            (0, "join", "a"),
            (1, "join", "b"),
            (2, "join", "c"),
            (3, "call", "a"),
            (4, "call", "b"),
        ],
        {"peak_size": 3, "size_sum": 1 + 2 + 3 + 2 + 1, "size_samples": 5, "avg_size": 1.8},
    ),
    (
        "no data: every average is 0.0",
        [],
        {"avg_wait_s": 0.0, "avg_service_s": 0.0, "avg_size": 0.0, "size_samples": 0},
    ),
]


@pytest.mark.parametrize(("steps", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(steps: list[Step], expected: dict[str, Any]) -> None:
    assert observed(run(steps), set(expected)) == pytest.approx(expected)


def test_a_line_moved_counts_for_nothing_but_the_size_sample() -> None:
    queue = build_queue(code="A")
    join_ticket(queue, "a", NINE)
    queue.events.clear()
    tally = HourlyTally(hour_start=hour_of(NINE))
    moved = LineMoved(queue="A", at=NINE, actor=STAFF, waiting=1)
    tally.add([moved, moved], queue)
    assert tally == HourlyTally(hour_of(NINE), peak_size=1, size_sum=1, size_samples=1)


def test_a_command_without_events_still_samples_the_size() -> None:
    queue = build_queue(code="A")
    join_ticket(queue, "a", NINE)
    tally = HourlyTally(hour_start=hour_of(NINE))
    tally.add([], queue)
    assert (tally.joined, tally.peak_size, tally.size_sum, tally.size_samples) == (0, 1, 1, 1)


@pytest.mark.parametrize(
    ("now", "hour_start"),
    [
        (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)),
        (
            datetime(2026, 3, 2, 9, 59, 59, 999_999, tzinfo=UTC),
            datetime(2026, 3, 2, 9, tzinfo=UTC),
        ),
        (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)),
        (  # the hour is UTC's, even for a clock in a half-hour time zone
            datetime(2026, 3, 2, 14, 35, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 3, 2, 9, tzinfo=UTC),
        ),
        (
            datetime(2026, 3, 3, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            datetime(2026, 3, 2, 23, tzinfo=UTC),
        ),
    ],
)
def test_hour_of(now: datetime, hour_start: datetime) -> None:
    assert hour_of(now) == hour_start
    assert hour_of(now).tzinfo is UTC


def test_hour_of_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        hour_of(datetime(2026, 3, 2, 9, 30))


def test_commands_either_side_of_the_hour_go_to_two_rows() -> None:
    queue = build_queue(code="A")
    rows: dict[datetime, HourlyTally] = {}
    for at, ticket_id in ((NINE + timedelta(minutes=59), "a"), (NINE + timedelta(hours=1), "b")):
        join_ticket(queue, ticket_id, at)
        rows.setdefault(hour_of(at), HourlyTally(hour_start=hour_of(at))).add(queue.events, queue)
        queue.events.clear()
    nine, ten = rows[NINE], rows[NINE + timedelta(hours=1)]
    assert (nine.joined, nine.peak_size) == (1, 1)
    assert (ten.joined, ten.peak_size) == (1, 2)  # the line carries over; the counts do not


def test_a_stored_row_round_trips() -> None:
    tally = run([(0, "join", "a"), (10, "call", "a"), (20, "join", "b")])
    stored = SimpleNamespace(id=7, queue_id=3, **tally.figures())  # extra columns are ignored
    assert HourlyTally.of_record(stored) == tally


def test_merging_the_same_hour_of_two_days_adds_counts_and_keeps_the_maxima() -> None:
    hour = datetime(2026, 3, 2, 9, tzinfo=UTC)
    monday = HourlyTally(hour, joined=3, called=2, wait_s_sum=100.0, wait_s_max=80.0,
                         peak_size=4, size_sum=6, size_samples=3)  # fmt: skip
    tuesday = HourlyTally(hour, joined=1, called=1, completed=2, service_s_sum=500.0,
                          wait_s_sum=50.0, wait_s_max=50.0, peak_size=7, size_sum=7,
                          size_samples=1)  # fmt: skip
    monday.merge(tuesday)
    assert (monday.joined, monday.called, monday.completed) == (4, 3, 2)
    assert monday.avg_wait_s == 50.0
    assert monday.wait_s_max == 80.0
    assert monday.peak_size == 7
    assert monday.avg_size == 13 / 4
    assert monday.avg_service_s == 250.0
