"""One patient per counter: what "call next" does at a counter that has someone at it, and
"complete" on a patient who came without anyone pressing "start"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from core.domain.errors import CounterBusy, QueueEmpty
from core.domain.events import TicketCalled, TicketCompleted, TicketStarted, TicketStateChanged
from core.domain.model import TicketStatus
from core.domain.queue import CounterPlan

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
W, C, S, DONE = (
    TicketStatus.WAITING,
    TicketStatus.CALLED,
    TicketStatus.SERVING,
    TicketStatus.DONE,
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_free_counter_calls_the_next(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "a", at(0))
    assert q.counter_state("1").plan is CounterPlan.FREE
    assert q.call_next("1", at(1), "staff").id == "a"


def test_a_patient_being_served_is_finished_by_the_next_call(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue()
    join(q, "a", at(0))
    join(q, "b", at(0.5))
    q.call_next("1", at(1), "staff")
    q.start("a", at(2), "staff")
    state = q.counter_state("1")
    assert state.plan is CounterPlan.FINISH_FIRST
    assert state.ticket is not None and state.ticket.id == "a"
    since = len(q.events)

    called = q.call_next("1", at(10), "staff:ana")

    assert called.id == "b" and called.counter == "1"
    a = q.ticket("a")
    assert (a.status, a.finished_at) == (DONE, at(10))
    changes = [e for e in q.events[since:] if isinstance(e, TicketStateChanged)]
    assert [(type(e), e.ticket_id, e.actor) for e in changes] == [
        (TicketCompleted, "a", "staff:ana"),
        (TicketCalled, "b", "staff:ana"),
    ]
    assert [t.id for t in q.at_counters()] == ["b"]


def test_a_called_patient_who_has_not_arrived_holds_the_counter(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue()
    join(q, "a", at(0))
    join(q, "b", at(0.5))
    first = q.call_next("1", at(1), "staff")
    state = q.counter_state("1")
    assert state.plan is CounterPlan.BUSY and state.ticket is first
    since = len(q.events)

    with pytest.raises(CounterBusy) as refused:
        q.call_next("1", at(2), "staff")

    error = refused.value
    assert error.code == "counter_busy"
    assert error.details() == {
        "queue": "A",
        "counter": "1",
        "ticket_id": "a",
        "number": first.number,
    }
    assert first.number in str(error)
    assert q.events[since:] == []
    assert q.ticket("b").status is W
    # the other counter is free: the line goes on there
    assert q.call_next("2", at(2), "staff").id == "b"


def test_an_empty_line_finishes_nobody(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    join(q, "a", at(0))
    q.call_next("1", at(1), "staff")
    q.start("a", at(2), "staff")
    with pytest.raises(QueueEmpty):
        q.call_next("1", at(3), "staff")
    assert q.ticket("a").status is S


def test_complete_on_a_called_patient_starts_and_completes(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue()
    join(q, "a", at(0))
    q.call_next("2", at(1), "staff")
    since = len(q.events)

    ticket = q.complete("a", at(6), "staff:bo")

    assert (ticket.status, ticket.started_at, ticket.finished_at) == (DONE, at(6), at(6))
    started, completed = [e for e in q.events[since:] if isinstance(e, TicketStateChanged)]
    assert isinstance(started, TicketStarted) and isinstance(completed, TicketCompleted)
    assert (started.from_status, started.to_status) == (C, S)
    assert (completed.from_status, completed.to_status) == (S, DONE)
    assert started.actor == completed.actor == "staff:bo"
    assert started.counter == completed.counter == "2"
    assert completed.service_s == 5 * 60
