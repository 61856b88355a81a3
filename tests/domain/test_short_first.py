"""Short visits first, with a fairness cap measured against first come, first served."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from core.domain.errors import InvalidValue
from core.domain.model import QueueConfig, QueueMode
from core.domain.queue import Queue

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
KINDS = {"pickup": 120, "consultation": 900}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def line(q: Queue) -> list[str]:
    return [t.id for t in q.waiting()]


def serve(q: Queue, seconds: float) -> str:
    """The one counter calls the next patient, who comes at once; returns who."""
    called = q.call_next("1", at(seconds), "staff")
    q.start(called.id, at(seconds), "staff")
    return called.id


CAP_S = 3000
"""Longer than a consultation is sure to take (900 s and three spreads of 450 s): shorter,
and a consultation whose turn is next could not be passed at all."""


@pytest.fixture
def queue(make_queue: MakeQueue) -> Queue:
    return make_queue(
        counters=("1",), mode=QueueMode.SHORT_FIRST, service_times_s=KINDS, fairness_cap_s=CAP_S
    )


def test_a_short_visit_goes_before_a_long_one_that_joined_earlier(queue: Queue, join: Join) -> None:
    join(queue, "long", at(0), service="consultation")
    join(queue, "short", at(10), service="pickup")
    join(queue, "unknown", at(20))  # the queue's default, 300 s: between the two
    assert line(queue) == ["short", "unknown", "long"]


def test_priority_still_comes_first(queue: Queue, join: Join) -> None:
    join(queue, "short", at(0), service="pickup")
    join(queue, "urgent-long", at(10), service="consultation", priority=2)
    assert line(queue) == ["urgent-long", "short"]


def test_nobody_passes_a_patient_once_their_cap_is_about_to_run_out(
    queue: Queue, join: Join
) -> None:
    join(queue, "busy", at(0), service="consultation")
    serve(queue, 0)
    join(queue, "long", at(1), service="consultation")
    join(queue, "short", at(2), service="pickup")
    assert line(queue) == ["short", "long"]
    # The counter frees up and calls "short": first come, first served would have called
    # "long" with that call, so its turn came then, and the cap runs from it.
    assert serve(queue, 900) == "short"
    assert queue.ticket("long").fifo_call_no is None
    assert queue.ticket("long").fifo_call_at == at(900)
    join(queue, "short2", at(1000), service="pickup")
    queue.reposition(at(900 + CAP_S - 600), "system")
    assert line(queue) == ["short2", "long"]
    # Once the counter could not be sure to free up before the cap runs out (the pickup in
    # progress, long past its usual length, is given three spreads more), nobody passes it.
    queue.reposition(at(900 + CAP_S - 100), "system")
    assert line(queue) == ["long", "short2"]


def test_a_turn_is_counted_in_calls_a_higher_priority_first(queue: Queue, join: Join) -> None:
    join(queue, "a", at(0), service="consultation")
    join(queue, "b", at(1), service="consultation")
    join(queue, "urgent", at(2), service="consultation", priority=2)
    # first come, first served with a higher priority first: urgent, a, b
    assert [queue.ticket(t).fifo_call_no for t in ("a", "b", "urgent")] == [1, 2, 1]
    join(queue, "urgent2", at(3), service="pickup", priority=1)  # goes before a and b too
    assert serve(queue, 10) == "urgent"  # its own turn
    assert serve(queue, 20) == "urgent2"
    assert queue.ticket("a").fifo_call_no is not None  # that call was urgent2's, not a's
    join(queue, "s", at(25), service="pickup")
    assert serve(queue, 30) == "s"  # a short visit: the call that was a's turn
    assert queue.ticket("a").fifo_call_at == at(30)
    assert queue.ticket("b").fifo_call_no is not None


def test_patients_whose_cap_runs_out_go_soonest_cap_first(queue: Queue, join: Join) -> None:
    join(queue, "a", at(1), service="consultation")
    join(queue, "b", at(2), service="consultation")
    join(queue, "s", at(3), service="pickup")
    for ticket_id, turn_s in (("a", 100), ("b", 50)):  # both turns came, b's first
        ticket = queue.ticket(ticket_id)
        ticket.fifo_call_no, ticket.fifo_call_at = None, at(turn_s)
    queue.reposition(at(5000), "system")  # both caps long run out
    assert line(queue) == ["b", "a", "s"]


def test_a_patient_back_in_line_is_owed_the_cap_from_their_return(queue: Queue, join: Join) -> None:
    join(queue, "a", at(0), service="consultation")
    queue.call_next("1", at(0), "staff")
    queue.mark_no_show("a", at(120), "staff")
    queue.return_to_line("a", at(600), "staff")
    ticket = queue.ticket("a")
    assert (ticket.fifo_call_no, ticket.fifo_call_at) == (None, at(600))


def test_an_appointment_that_is_due_goes_first(queue: Queue, join: Join) -> None:
    join(queue, "short", at(0), service="pickup")
    join(queue, "booked", at(10), service="consultation", appointment_at=at(60))
    assert line(queue) == ["short", "booked"]
    queue.reposition(at(60), "system")
    assert line(queue) == ["booked", "short"]


def test_an_unknown_kind_of_visit_is_refused(queue: Queue, join: Join) -> None:
    with pytest.raises(InvalidValue, match="unknown kind of visit 'vaccine'"):
        join(queue, "x", at(0), service="vaccine")
    assert queue.waiting() == []


@pytest.mark.parametrize(
    ("kinds", "message"),
    [
        ({"Pick Up": 60}, "lower-case"),
        ({"pickup": 0}, "between 1 and"),
        ({f"k{i}": 60 for i in range(13)}, "at most 12"),
    ],
)
def test_kinds_of_visit_are_validated(kinds: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        QueueConfig(service_times_s=kinds)


@pytest.mark.parametrize("cap_s", [59, 4 * 3600 + 1])
def test_the_fairness_cap_is_bounded(cap_s: int) -> None:
    with pytest.raises(InvalidValue, match="fairness_cap_s"):
        QueueConfig(fairness_cap_s=cap_s)


@pytest.mark.parametrize(("cap_s", "first"), [(1200, "long"), (4000, "short")])
def test_a_visit_whose_turn_is_next_is_passed_only_if_its_cap_can_still_be_kept(
    make_queue: MakeQueue, join: Join, cap_s: int, first: str
) -> None:
    # Usual visits of 20 min, given three spreads of 10 min: the counter is sure to be free
    # again 50 min after it calls someone else. With a cap of 20 min, passing "long" now
    # could break it: it goes first. With a cap of 66 min, "short" may go first.
    queue = make_queue(
        counters=("1",),
        mode=QueueMode.SHORT_FIRST,
        service_times_s=KINDS,
        default_service_s=1200,
        fairness_cap_s=cap_s,
    )
    join(queue, "long", at(0), service="consultation")
    join(queue, "short", at(10), service="pickup")
    assert line(queue)[0] == first
