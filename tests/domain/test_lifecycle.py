"""Ticket life cycle of the queue aggregate: transitions, events, numbering, transfers."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from core.domain.errors import (
    DomainError,
    IllegalTransition,
    InvalidValue,
    QueueEmpty,
    QueueFull,
    TicketNotInQueue,
    UnknownCounter,
)
from core.domain.events import (
    PositionChanged,
    TicketCalled,
    TicketCancelled,
    TicketCompleted,
    TicketJoined,
    TicketMarkedNoShow,
    TicketRecalled,
    TicketReturned,
    TicketStarted,
    TicketStateChanged,
    TicketTransferredIn,
    TicketTransferredOut,
)
from core.domain.hours import parse_hours
from core.domain.model import OnClose, QueueConfig, QueueMode, Ticket, TicketStatus, Weights
from core.domain.queue import TRANSITIONS, JoinRequest, Queue, UnrankedLine

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
W, C, S = TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING
DONE, CANCELLED, NO_SHOW = TicketStatus.DONE, TicketStatus.CANCELLED, TicketStatus.NO_SHOW


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def state_events(q: Queue, since: int = 0) -> list[TicketStateChanged]:
    return [e for e in q.events[since:] if isinstance(e, TicketStateChanged)]


def line_moved_by(q: Queue) -> str | None:
    """Who last changed the line, as settle would read it; read once (settle clears it).
    A command's moves are that one note: it emits no event per ticket."""
    assert not any(isinstance(e, PositionChanged) for e in q.events)
    moved_by, q.line_moved_by = q.line_moved_by, None
    return moved_by


def positions(q: Queue) -> dict[str, int | None]:
    return {t.id: t.position for t in q.waiting()}


# -- the transition table ----------------------------------------------------------------

# From the contract: waiting -> called -> serving -> done; waiting -> cancelled;
# called -> no_show; no_show -> waiting and called -> waiting (return); a recall keeps the
# ticket called; a transfer puts a live ticket back in line (in the other queue).
EXPECTED: dict[tuple[str, TicketStatus], tuple[TicketStatus, type[TicketStateChanged]]] = {
    ("call", W): (C, TicketCalled),
    ("recall", C): (C, TicketRecalled),
    ("start", C): (S, TicketStarted),
    ("complete", S): (DONE, TicketCompleted),
    ("complete", C): (DONE, TicketCompleted),  # started and completed in one step
    ("no-show", C): (NO_SHOW, TicketMarkedNoShow),
    ("cancel", W): (CANCELLED, TicketCancelled),
    ("return", C): (W, TicketReturned),
    ("return", NO_SHOW): (W, TicketReturned),
    ("transfer", W): (W, TicketTransferredOut),
    ("transfer", C): (W, TicketTransferredOut),
    ("transfer", S): (W, TicketTransferredOut),
}
ACTION_AT = T0 + timedelta(minutes=20)
# What each legal action leaves on the ticket (it was called at counter 1, if at all).
FIELDS: dict[str, dict[str, object]] = {
    "call": {"counter": "2", "called_at": ACTION_AT, "position": None},
    "recall": {"counter": "1", "recall_count": 1},
    "start": {"counter": "1", "started_at": ACTION_AT},
    "complete": {"counter": "1", "finished_at": ACTION_AT},
    "no-show": {"counter": "1", "finished_at": ACTION_AT, "position": None},
    "cancel": {"finished_at": ACTION_AT, "position": None},
    "return": {"counter": None, "called_at": None, "finished_at": None, "position": 1},
    "transfer": {
        "queue": "B",
        "counter": None,
        "called_at": None,
        "started_at": None,
        "position": 1,
    },
}
ACTIONS = ("call", "recall", "start", "complete", "no-show", "cancel", "return", "transfer")
ALL_PAIRS = list(itertools.product(ACTIONS, list(TicketStatus)))


def test_transition_table_matches_the_contract() -> None:
    from_table = {
        (action, before): after
        for action, table in TRANSITIONS.items()
        for before, after in table.items()
    }
    assert from_table == {pair: after for pair, (after, _) in EXPECTED.items()}
    assert set(TRANSITIONS) == set(ACTIONS)


def ticket_in(q: Queue, join: Join, status: TicketStatus) -> Ticket:
    """One ticket `t`, joined at T0 and brought to `status` along the contract's paths."""
    join(q, "t", T0)
    if status is CANCELLED:
        q.cancel("t", at(1), "tester")
    if status in (C, S, DONE, NO_SHOW):
        q.call("t", "1", at(5), "tester")
    if status in (S, DONE):
        q.start("t", at(6), "tester")
    if status is DONE:
        q.complete("t", at(10), "tester")
    if status is NO_SHOW:
        q.mark_no_show("t", at(10), "tester")
    if status is TicketStatus.CLOSED:  # still waiting when the day's hours (to 10:00) end
        hours = parse_hours({"mon": [["08:00", "10:00"]]})
        q.config = dataclasses.replace(
            q.config, opening_hours=hours, on_close=OnClose.CLOSE_REMAINING
        )
        q.close_remaining(at(120), "tester")
    assert q.ticket("t").status is status
    return q.ticket("t")


def apply(action: str, q: Queue, target: Queue, now: datetime) -> Ticket:
    commands: dict[str, Callable[[], Ticket]] = {
        "call": lambda: q.call("t", "2", now, "staff"),
        "recall": lambda: q.recall("t", now, "staff"),
        "start": lambda: q.start("t", now, "staff"),
        "complete": lambda: q.complete("t", now, "staff"),
        "no-show": lambda: q.mark_no_show("t", now, "staff"),
        "cancel": lambda: q.cancel("t", now, "staff"),
        "return": lambda: q.return_to_line("t", now, "staff"),
        "transfer": lambda: target.accept_transfer(
            q.transfer_out("t", "B", now, "staff"), "A", now, "staff"
        ),
    }
    return commands[action]()


def snapshot(q: Queue) -> dict[str, Any]:
    return {
        "tickets": copy.deepcopy(q.tickets),
        "events": list(q.events),
        "counters": copy.deepcopy(q.counters),
        "seq": (q.day_seq, q.day_seq_date),
    }


@pytest.mark.parametrize(
    ("action", "before"), ALL_PAIRS, ids=[f"{a}-from-{s.value}" for a, s in ALL_PAIRS]
)
def test_every_action_from_every_status(
    make_queue: MakeQueue, join: Join, action: str, before: TicketStatus
) -> None:
    q = make_queue("A")
    target = make_queue("B")
    original = ticket_in(q, join, before)
    number, joined_at = original.number, original.joined_at
    now = ACTION_AT
    q_before, target_before = snapshot(q), snapshot(target)

    if (action, before) not in EXPECTED:
        with pytest.raises(IllegalTransition) as caught:
            apply(action, q, target, now)
        assert caught.value.code == "illegal_transition"
        assert caught.value.action == action
        assert caught.value.status == before.value
        assert snapshot(q) == q_before
        assert snapshot(target) == target_before
        return

    after, event_type = EXPECTED[(action, before)]
    since = len(q.events)
    ticket = apply(action, q, target, now)

    assert ticket.status is after
    assert (ticket.number, ticket.joined_at, ticket.line_at) == (number, joined_at, joined_at)
    assert {name: getattr(ticket, name) for name in FIELDS[action]} == FIELDS[action]
    events = state_events(q, since)
    if (action, before) == ("complete", C):
        # what staff mean by "complete" on a patient who came: both steps in the audit trail
        started, event = events
        assert type(started) is TicketStarted
        assert (started.from_status, started.to_status) == (C, S)
        assert (started.at, started.actor, started.counter) == (now, "staff", "1")
        assert ticket.started_at == now
        before = S
    else:
        (event,) = events
    assert type(event) is event_type
    assert (event.ticket_id, event.number, event.queue) == ("t", number, "A")
    assert (event.from_status, event.to_status) == (before, after)
    assert (event.at, event.actor) == (now, "staff")

    if action == "transfer":
        assert "t" not in q.tickets
        assert target.ticket("t") is ticket
        assert isinstance(event, TicketTransferredOut)
        assert event.to_queue == "B"
        (arrived,) = state_events(target)
        assert isinstance(arrived, TicketTransferredIn)
        assert (arrived.queue, arrived.from_queue, arrived.position) == ("B", "A", 1)
        # the audit trail reads as one chain: A: before -> waiting, B: waiting -> waiting
        assert arrived.from_status is event.to_status
        assert arrived.to_status is W
    else:
        assert q.ticket("t") is ticket
        assert snapshot(target) == target_before


def test_illegal_transition_on_a_busy_queue_changes_nothing(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue()
    join(q, "a", at(0))
    join(q, "b", at(1), priority=2)
    join(q, "c", at(2))
    q.call_next("1", at(3), "staff")
    q.start("a", at(4), "staff")
    before = snapshot(q)
    for command in (
        lambda: q.call("a", "2", at(5), "staff"),
        lambda: q.cancel("a", at(5), "staff"),
        lambda: q.start("b", at(5), "staff"),
        lambda: q.complete("c", at(5), "staff"),
        lambda: q.return_to_line("b", at(5), "staff"),
        lambda: q.recall("a", at(5), "staff"),
    ):
        with pytest.raises(IllegalTransition):
            command()
        assert snapshot(q) == before


def test_call_sets_counter_and_time_and_leaves_the_line(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "a", at(0))
    join(q, "b", at(1))
    ticket = q.call("a", "2", at(4), "staff")
    assert (ticket.counter, ticket.called_at, ticket.position) == ("2", at(4), None)
    assert q.waiting() == [q.ticket("b")]
    (event,) = [e for e in state_events(q) if isinstance(e, TicketCalled)]
    assert event.counter == "2"


def test_calling_from_a_closed_counter_opens_it(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    q.counters["2"].is_open = False
    join(q, "a", at(0))
    q.call_next("2", at(1), "staff")
    assert q.counters["2"].is_open


def test_started_and_completed_carry_the_counter(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "a", at(0))
    q.call("a", "2", at(1), "staff")
    q.start("a", at(2), "staff")
    q.complete("a", at(3), "staff")
    started, completed = state_events(q)[-2:]
    assert isinstance(started, TicketStarted)
    assert isinstance(completed, TicketCompleted)
    assert started.counter == completed.counter == "2"


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidValue("x"), "invalid_value"),
        (QueueFull("A", 3, None), "queue_full"),
        (QueueEmpty("A"), "queue_empty"),
        (UnknownCounter("A", "9"), "unknown_counter"),
        (TicketNotInQueue("A", "t"), "ticket_not_found"),
        (IllegalTransition("A-001", "call", "done"), "illegal_transition"),
    ],
)
def test_domain_errors_carry_their_code(error: DomainError, code: str) -> None:
    assert isinstance(error, DomainError)
    assert error.code == code
    assert str(error)


def test_call_next_on_an_empty_queue(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    with pytest.raises(QueueEmpty) as caught:
        q.call_next("1", at(0), "staff")
    assert caught.value.code == "queue_empty"
    assert caught.value.queue == "A"
    assert q.events == []

    # tickets at the counters are not in line either
    join(q, "a", at(1))
    q.call_next("1", at(2), "staff")
    before = snapshot(q)
    with pytest.raises(QueueEmpty):
        q.call_next("2", at(3), "staff")
    assert snapshot(q) == before


def test_unknown_counter(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1",))
    with pytest.raises(UnknownCounter) as caught:
        q.call_next("9", at(0), "staff")  # checked before emptiness
    assert caught.value.code == "unknown_counter"
    join(q, "a", at(1))
    before = snapshot(q)
    with pytest.raises(UnknownCounter):
        q.call_next("9", at(2), "staff")
    with pytest.raises(UnknownCounter):
        q.call("a", "9", at(2), "staff")
    assert snapshot(q) == before
    assert q.ticket("a").status is W


def test_unknown_ticket(make_queue: MakeQueue) -> None:
    q = make_queue()
    with pytest.raises(TicketNotInQueue) as caught:
        q.start("nope", at(0), "staff")
    assert caught.value.code == "ticket_not_found"
    with pytest.raises(TicketNotInQueue):
        q.transfer_out("nope", "B", at(0), "staff")


@pytest.mark.parametrize("overflow", ["B", None])
def test_capacity_reached(make_queue: MakeQueue, join: Join, overflow: str | None) -> None:
    q = make_queue(capacity=2, overflow_queue=overflow)
    join(q, "a", at(0))
    join(q, "b", at(1))
    before = snapshot(q)
    with pytest.raises(QueueFull) as caught:
        join(q, "c", at(2))
    assert caught.value.code == "queue_full"
    assert (caught.value.queue, caught.value.capacity) == ("A", 2)
    assert caught.value.overflow_queue == overflow
    assert snapshot(q) == before
    # a call frees a place, and the refused join did not use up a number
    q.call_next("1", at(3), "staff")
    assert join(q, "c", at(4)).number == "A-003"


def test_no_capacity_means_no_limit(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    for i in range(200):
        join(q, f"t{i}", at(i))
    assert q.size() == 200
    assert [t.position for t in q.waiting()] == list(range(1, 201))


def test_overflowed_from_is_recorded_on_the_joined_event(make_queue: MakeQueue) -> None:
    q = make_queue("B")
    q.join(JoinRequest("t", "tok"), at(0), "system", overflowed_from="A")
    (event,) = state_events(q)
    assert isinstance(event, TicketJoined)
    assert event.overflowed_from == "A"
    assert (event.from_status, event.to_status, event.position) == (None, W, 1)


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights",
    [(-0.1, 0.3, 0.2), (0.5, 1.01, 0.2), (0.5, 0.3, -1.0), (2.0, 0.0, 0.0), (0.0, 0.0, 0.0)],
)
def test_invalid_weights(weights: tuple[float, float, float]) -> None:
    with pytest.raises(InvalidValue) as caught:
        Weights(*weights)
    assert caught.value.code == "invalid_value"


@pytest.mark.parametrize("weights", [(0.0, 0.0, 1.0), (1.0, 1.0, 1.0), (0.0, 0.01, 0.0)])
def test_valid_weights(weights: tuple[float, float, float]) -> None:
    assert Weights(*weights).wait_time == weights[1]


@pytest.mark.parametrize(
    "config",
    [
        {"capacity": 0},
        {"capacity": -5},
        {"notify_positions": (0,)},
        {"notify_positions": (3, -1)},
        {"no_show_grace_s": -1},
        {"default_service_s": 0},
        {"default_service_s": -300},
        {"wait_horizon_s": 0},
        {"wait_horizon_s": -1},
        {"appointment_window_s": -1},
    ],
)
def test_invalid_queue_config(config: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        QueueConfig(**config)


@pytest.mark.parametrize(
    "config",
    [
        {"capacity": 1},
        {"capacity": None},
        {"notify_positions": ()},
        {"no_show_grace_s": 0},
        {"appointment_window_s": 0},
        {"mode": QueueMode.DYNAMIC, "weights": Weights(1.0, 0.0, 0.0)},
    ],
)
def test_valid_queue_config(config: dict[str, Any]) -> None:
    QueueConfig(**config)


@pytest.mark.parametrize("priority", [-1, 4, 100])
def test_invalid_priority(make_queue: MakeQueue, join: Join, priority: int) -> None:
    q = make_queue()
    before = snapshot(q)
    with pytest.raises(InvalidValue):
        join(q, "t", at(0), priority=priority)
    assert snapshot(q) == before
    with pytest.raises(InvalidValue):
        Ticket(id="t", queue="A", number="A-001", seq=1, token="x", joined_at=T0, line_at=T0,
               priority=priority)  # fmt: skip


@pytest.mark.parametrize("priority", [0, 1, 2, 3])
def test_valid_priority(make_queue: MakeQueue, join: Join, priority: int) -> None:
    assert join(make_queue(), "t", at(0), priority=priority).priority == priority


def test_transfer_to_its_own_queue(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue("A")
    join(q, "t", at(0))
    before = snapshot(q)
    with pytest.raises(InvalidValue):
        q.transfer_out("t", "A", at(1), "staff")
    assert snapshot(q) == before


# -- ticket numbers ----------------------------------------------------------------------


def test_numbers_count_per_queue(make_queue: MakeQueue, join: Join) -> None:
    a, b = make_queue("A"), make_queue("B", prefix="PH")
    numbers = [
        join(a, "a1", at(0)).number,
        join(a, "a2", at(1)).number,
        join(b, "b1", at(2)).number,
        join(a, "a3", at(3)).number,
        join(b, "b2", at(4)).number,
    ]
    assert numbers == ["A-001", "A-002", "PH-001", "A-003", "PH-002"]
    assert [a.ticket(i).seq for i in ("a1", "a2", "a3")] == [1, 2, 3]


def test_numbers_keep_counting_past_999(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    q.day_seq, q.day_seq_date = 998, T0.date()
    assert [join(q, f"t{i}", at(i)).number for i in range(3)] == ["A-999", "A-1000", "A-1001"]


@pytest.mark.parametrize(
    ("tz", "joins"),
    [
        pytest.param(
            "Europe/Madrid",  # CET, UTC+1: local midnight is 23:00 UTC
            [
                (datetime(2026, 3, 2, 22, 30, tzinfo=UTC), "A-001"),
                (datetime(2026, 3, 2, 22, 59, 59, tzinfo=UTC), "A-002"),
                (datetime(2026, 3, 2, 23, 0, tzinfo=UTC), "A-001"),  # 00:00 in Madrid
                (datetime(2026, 3, 2, 23, 30, tzinfo=UTC), "A-002"),
                (datetime(2026, 3, 3, 0, 30, tzinfo=UTC), "A-003"),  # UTC midnight: no reset
                (datetime(2026, 3, 3, 22, 59, tzinfo=UTC), "A-004"),
                (datetime(2026, 3, 3, 23, 1, tzinfo=UTC), "A-001"),
            ],
            id="madrid",
        ),
        pytest.param(
            "America/New_York",  # EST, UTC-5: local midnight is 05:00 UTC
            [
                (datetime(2026, 3, 2, 23, 30, tzinfo=UTC), "A-001"),
                (datetime(2026, 3, 3, 0, 30, tzinfo=UTC), "A-002"),  # UTC midnight: no reset
                (datetime(2026, 3, 3, 4, 59, tzinfo=UTC), "A-003"),
                (datetime(2026, 3, 3, 5, 0, tzinfo=UTC), "A-001"),
            ],
            id="new-york",
        ),
        pytest.param(
            "UTC",
            [
                (datetime(2026, 3, 2, 23, 30, tzinfo=UTC), "A-001"),
                (datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC), "A-002"),
                (datetime(2026, 3, 3, 0, 0, tzinfo=UTC), "A-001"),
            ],
            id="utc",
        ),
    ],
)
def test_numbers_reset_at_local_midnight(
    make_queue: MakeQueue, join: Join, tz: str, joins: list[tuple[datetime, str]]
) -> None:
    q = make_queue(timezone=tz)
    got = [join(q, f"t{i}", when).number for i, (when, _) in enumerate(joins)]
    assert got == [number for _, number in joins]


def test_tickets_from_before_midnight_stay_ahead_in_fifo(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(timezone="Europe/Madrid")
    join(q, "late", datetime(2026, 3, 2, 22, 50, tzinfo=UTC))  # A-001 of March 2
    join(q, "early", datetime(2026, 3, 2, 23, 10, tzinfo=UTC))  # A-001 of March 3
    assert q.ticket("late").number == q.ticket("early").number == "A-001"
    assert positions(q) == {"late": 1, "early": 2}


# -- transfer ----------------------------------------------------------------------------


def test_transfer_keeps_number_and_times_and_places_by_join_time(
    make_queue: MakeQueue, join: Join
) -> None:
    a, b = make_queue("A"), make_queue("B")
    join(a, "x", at(0))
    join(a, "a2", at(1))
    join(b, "b1", at(5))
    join(b, "b2", at(10))
    b_since = len(b.events)
    line_moved_by(a), line_moved_by(b)

    ticket = b.accept_transfer(a.transfer_out("x", "B", at(20), "staff"), "A", at(20), "staff")

    assert (ticket.number, ticket.joined_at, ticket.line_at) == ("A-001", at(0), at(0))
    assert (ticket.queue, ticket.status) == ("B", W)
    assert positions(b) == {"x": 1, "b1": 2, "b2": 3}
    assert line_moved_by(b) == "staff"
    (arrived,) = state_events(b, b_since)
    assert isinstance(arrived, TicketTransferredIn)
    assert arrived.position == 1
    # the source closes the gap
    assert positions(a) == {"a2": 1}
    assert line_moved_by(a) == "staff"
    # the target's own numbering is untouched
    assert join(b, "b3", at(21)).number == "B-003"


def test_transfer_of_a_later_ticket_goes_behind_earlier_ones(
    make_queue: MakeQueue, join: Join
) -> None:
    a, b = make_queue("A"), make_queue("B")
    join(b, "b1", at(0))
    join(a, "x", at(7))
    join(b, "b2", at(10))
    b.accept_transfer(a.transfer_out("x", "B", at(30), "staff"), "A", at(30), "staff")
    assert positions(b) == {"b1": 1, "x": 2, "b2": 3}


def test_transfer_of_a_called_ticket_clears_the_counter(make_queue: MakeQueue, join: Join) -> None:
    a, b = make_queue("A"), make_queue("B")
    join(a, "x", at(0))
    a.call("x", "1", at(3), "staff")
    ticket = b.accept_transfer(a.transfer_out("x", "B", at(5), "staff"), "A", at(5), "staff")
    assert (ticket.status, ticket.counter, ticket.called_at, ticket.position) == (W, None, None, 1)
    assert ticket.joined_at == at(0)
    assert a.at_counters() == []


def test_transferred_ticket_keeps_its_priority_in_a_dynamic_target(
    make_queue: MakeQueue, join: Join
) -> None:
    a, b = make_queue("A"), make_queue("B", mode=QueueMode.DYNAMIC)
    join(b, "b1", at(0))
    join(a, "x", at(1), priority=3)
    b.accept_transfer(a.transfer_out("x", "B", at(2), "staff"), "A", at(2), "staff")
    assert positions(b) == {"x": 1, "b1": 2}


# -- return, recall, no-show, complete ---------------------------------------------------


@pytest.mark.parametrize("via_no_show", [True, False])
def test_return_goes_back_by_original_join_time(
    make_queue: MakeQueue, join: Join, via_no_show: bool
) -> None:
    q = make_queue()
    for i, ticket_id in enumerate(("t1", "t2", "t3")):
        join(q, ticket_id, at(i))
    assert q.call_next("1", at(5), "staff").id == "t1"
    if via_no_show:
        q.mark_no_show("t1", at(10), "staff")
    join(q, "t4", at(12))
    since = len(q.events)
    line_moved_by(q)

    ticket = q.return_to_line("t1", at(15), "staff")

    assert positions(q) == {"t1": 1, "t2": 2, "t3": 3, "t4": 4}
    assert line_moved_by(q) == "staff"
    (event,) = state_events(q, since)
    assert isinstance(event, TicketReturned)
    assert event.position == 1
    assert event.from_status is (NO_SHOW if via_no_show else C)
    assert (ticket.joined_at, ticket.line_at) == (at(0), at(0))
    assert (ticket.counter, ticket.called_at, ticket.started_at, ticket.finished_at) == (
        None,
        None,
        None,
        None,
    )
    # and it is the next one called
    assert q.call_next("2", at(16), "staff").id == "t1"


def test_return_in_the_middle_of_the_line(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "t1", at(0))
    join(q, "t2", at(1))
    join(q, "t3", at(2))
    q.call("t2", "1", at(3), "staff")
    q.mark_no_show("t2", at(8), "staff")
    q.return_to_line("t2", at(9), "staff")
    assert positions(q) == {"t1": 1, "t2": 2, "t3": 3}


def test_recall_increments_the_count(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "t", at(0))
    q.call("t", "2", at(1), "staff")
    q.recall("t", at(2), "staff")
    ticket = q.recall("t", at(3), "staff")
    assert (ticket.recall_count, ticket.status, ticket.counter) == (2, C, "2")
    recalled = [e for e in q.events if isinstance(e, TicketRecalled)]
    assert [(e.recall_count, e.counter, e.at) for e in recalled] == [
        (1, "2", at(2)),
        (2, "2", at(3)),
    ]


def test_complete_computes_wait_and_service(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "t", at(0))
    q.call("t", "1", at(10), "staff")
    q.start("t", at(12), "staff")
    ticket = q.complete("t", at(20), "staff")
    assert (ticket.started_at, ticket.finished_at) == (at(12), at(20))
    event = q.events[-1]
    assert isinstance(event, TicketCompleted)
    # waiting: join -> call; service: call -> finish (the counter is busy from the call)
    assert (event.wait_s, event.service_s) == (600.0, 600.0)
    assert event.counter == "1"


def test_complete_after_a_return_measures_from_the_join(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "t", at(0))
    q.call("t", "1", at(5), "staff")
    q.mark_no_show("t", at(10), "staff")
    q.return_to_line("t", at(30), "staff")
    q.call("t", "2", at(40), "staff")
    q.start("t", at(41), "staff")
    q.complete("t", at(43), "staff")
    event = q.events[-1]
    assert isinstance(event, TicketCompleted)
    assert (event.wait_s, event.service_s, event.counter) == (2400.0, 180.0, "2")


def test_expire_called_after_the_grace_period(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(no_show_grace_s=300)
    join(q, "early", at(0))
    join(q, "late", at(1))
    join(q, "serving", at(2))
    q.call("early", "1", at(10), "staff")
    q.call("late", "2", at(12), "staff")
    q.call("serving", "1", at(10), "staff")
    q.start("serving", at(11), "staff")

    assert q.expire_called(at(10) + timedelta(seconds=299)) == []
    assert q.ticket("early").status is C

    expired = q.expire_called(at(15))  # exactly 300 s after the first call
    assert [t.id for t in expired] == ["early"]
    assert q.ticket("early").status is NO_SHOW
    assert q.ticket("early").finished_at == at(15)
    assert q.ticket("late").status is C
    event = q.events[-1]
    assert isinstance(event, TicketMarkedNoShow)
    assert (event.ticket_id, event.actor, event.counter) == ("early", "system", "1")

    assert [t.id for t in q.expire_called(at(17), "sweeper")] == ["late"]
    assert q.events[-1].actor == "sweeper"
    # a serving ticket is never a no-show, however long it takes
    assert q.expire_called(at(600)) == []
    assert q.ticket("serving").status is S


def test_grace_zero_disables_expiry(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(no_show_grace_s=0)
    join(q, "t", at(0))
    q.call("t", "1", at(1), "staff")
    before = snapshot(q)
    assert q.expire_called(at(60 * 24)) == []
    assert snapshot(q) == before


# -- position changes --------------------------------------------------------------------


def test_fifo_join_moves_nobody(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    for i in range(4):
        join(q, f"t{i}", at(i))
    assert line_moved_by(q) == "tester"  # every join changes who is in line
    joined = [e for e in q.events if isinstance(e, TicketJoined)]
    assert [e.position for e in joined] == [1, 2, 3, 4]


def test_dynamic_join_ahead_moves_the_others_but_not_itself(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(mode=QueueMode.DYNAMIC)
    join(q, "a", at(0))
    join(q, "b", at(1))
    since = len(q.events)
    join(q, "urgent", at(2), priority=3)
    assert positions(q) == {"urgent": 1, "a": 2, "b": 3}
    assert line_moved_by(q) == "tester"
    (joined,) = state_events(q, since)
    assert isinstance(joined, TicketJoined)
    assert (joined.ticket_id, joined.position, joined.priority) == ("urgent", 1, 3)


def test_call_and_cancel_move_only_those_behind(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    for i in range(5):
        join(q, f"t{i}", at(i))
    line_moved_by(q)
    q.cancel("t2", at(6), "patient")
    assert line_moved_by(q) == "patient"
    assert q.ticket("t2").position is None
    assert positions(q) == {"t0": 1, "t1": 2, "t3": 3, "t4": 4}
    q.call_next("1", at(7), "staff")
    assert q.ticket("t0").status is C
    assert line_moved_by(q) == "staff"
    assert positions(q) == {"t1": 1, "t3": 2, "t4": 3}


def test_a_command_that_leaves_the_line_as_it_was_notes_no_move(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue()
    join(q, "t0", at(0))
    join(q, "t1", at(1))
    q.call_next("1", at(2), "staff")
    line_moved_by(q)
    q.recall("t0", at(3), "staff")
    q.start("t0", at(4), "staff")
    q.complete("t0", at(5), "staff")
    assert line_moved_by(q) is None


def test_a_called_ticket_records_where_it_stood_in_line(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(mode=QueueMode.DYNAMIC)
    join(q, "a", at(0))
    join(q, "b", at(1))
    join(q, "c", at(2))
    q.call("c", "1", at(3), "staff")  # staff may call anyone, not just the first
    q.call_next("2", at(4), "staff")
    called = [e for e in q.events if isinstance(e, TicketCalled)]
    assert [(e.ticket_id, e.position) for e in called] == [("c", 3), ("a", 1)]


def test_a_line_read_before_it_is_ranked_is_refused(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "a", at(0))
    join(q, "b", at(1))
    line_moved_by(q)
    for ticket in q.tickets.values():
        ticket.position = None  # as storage loads it: positions are never stored
    with pytest.raises(UnrankedLine):
        q.waiting()
    q.rank(at(2))
    assert positions(q) == {"a": 1, "b": 2}
    assert line_moved_by(q) is None  # ranking a loaded line is no move


def test_dynamic_call_next_takes_the_best_score_now(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(mode=QueueMode.DYNAMIC)
    join(q, "walk-in", at(0))
    join(q, "appointment", at(1), appointment_at=at(60))
    assert positions(q) == {"walk-in": 1, "appointment": 2}
    # at T0 + 60 min: walk-in 0.3 * 1 = 0.3; appointment 0.3 * 59/60 + 0.2 = 0.495
    assert q.call_next("1", at(60), "staff").id == "appointment"


def test_reposition_ranks_now_and_has_the_line_announced(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(mode=QueueMode.DYNAMIC)
    join(q, "walk-in", at(0))
    join(q, "appointment", at(1), appointment_at=at(60))
    join(q, "walk-in-2", at(2))
    line_moved_by(q)
    # at T0 + 60 min the appointment (0.495) overtakes walk-in (0.3) and walk-in-2 (0.29)
    assert q.reposition(at(60), "staff") == 3
    assert positions(q) == {"appointment": 1, "walk-in": 2, "walk-in-2": 3}
    assert line_moved_by(q) == "staff"
    # announced even when nothing moved: time may have moved the line since it was loaded
    assert q.reposition(at(60), "staff") == 3
    assert line_moved_by(q) == "staff"


def test_fifo_reposition_moves_nobody(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "a", at(0), priority=0)
    join(q, "b", at(1), priority=3, appointment_at=at(0))
    q.reposition(at(120), "staff")
    assert positions(q) == {"a": 1, "b": 2}


# -- events as messages ------------------------------------------------------------------


def test_events_serialise_to_bus_messages(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "t", at(0))
    q.call("t", "1", at(1), "staff")
    q.mark_no_show("t", at(7), "system")
    called, no_show = state_events(q)[1:]
    assert called.to_dict() == {
        "type": "ticket_called",
        "queue": "A",
        "data": {
            "queue": "A",
            "at": "2026-03-02T09:01:00+00:00",
            "actor": "staff",
            "ticket_id": "t",
            "number": "A-001",
            "from_status": "waiting",
            "to_status": "called",
            "counter": "1",
            "position": 1,
        },
    }
    assert no_show.to_dict()["type"] == "ticket_marked_no_show"
    assert no_show.to_dict()["data"]["to_status"] == "no_show"
    assert TicketTransferredIn.type_name() == "ticket_transferred_in"
    assert PositionChanged.type_name() == "position_changed"


def test_a_recall_restarts_the_no_show_grace(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(no_show_grace_s=300)
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    ticket = join(queue, "a", t0)
    queue.call_next("1", t0, "staff")
    queue.recall(ticket.id, t0 + timedelta(seconds=290), "staff")
    assert queue.expire_called(t0 + timedelta(seconds=310)) == []
    expired = queue.expire_called(t0 + timedelta(seconds=590))
    assert [t.id for t in expired] == ["a"]


def test_transfer_into_a_full_queue_is_refused(make_queue: MakeQueue, join: Join) -> None:
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    source, target = make_queue("A"), make_queue("L", capacity=1)
    join(target, "l1", t0)
    ticket = join(source, "a1", t0)
    with pytest.raises(QueueFull):
        target.accept_transfer(ticket, "A", t0, "staff")
    assert [t.id for t in target.waiting()] == ["l1"]


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "../etc/passwd"])
def test_unknown_time_zone_is_an_invalid_value(timezone: str) -> None:
    with pytest.raises(InvalidValue, match="time zone"):
        QueueConfig(timezone=timezone)
