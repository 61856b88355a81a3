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


@pytest.fixture
def queue(make_queue: MakeQueue) -> Queue:
    return make_queue(
        counters=("1",), mode=QueueMode.SHORT_FIRST, service_times_s=KINDS, fairness_cap_s=600
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


def test_nobody_passes_a_patient_past_the_cap(queue: Queue, join: Join) -> None:
    join(queue, "busy", at(0), service="consultation")
    queue.call_next("1", at(0), "staff")  # the counter is busy for about 900 s
    join(queue, "long", at(1), service="consultation")
    # first come first served would call "long" when the counter frees: at about 900 s
    fifo_call_at = queue.ticket("long").fifo_call_at
    assert fifo_call_at == at(900)
    join(queue, "short", at(2), service="pickup")
    assert line(queue) == ["short", "long"]
    # 600 s (the cap) after that time, less one usual visit (so that the next counter to
    # free up reaches it before the cap runs out), "long" is due: shorter visits no longer
    # pass it
    due_s = 900 + 600 - queue.service().mean_s
    queue.reposition(at(due_s - 1), "system")
    assert line(queue) == ["short", "long"]
    queue.reposition(at(due_s), "system")
    assert line(queue) == ["long", "short"]


def test_due_patients_go_in_the_order_fifo_would_have_called_them(queue: Queue, join: Join) -> None:
    join(queue, "busy", at(0), service="consultation")
    queue.call_next("1", at(0), "staff")
    join(queue, "a", at(1), service="consultation")
    join(queue, "b", at(2), service="consultation")
    join(queue, "s", at(3), service="pickup")
    queue.reposition(at(5000), "system")  # all three are long past their time
    assert line(queue) == ["a", "b", "s"]


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


def test_with_visits_as_long_as_the_cap_a_short_visit_still_goes_first(
    make_queue: MakeQueue, join: Join
) -> None:
    # A usual visit of 20 min and a cap of 20 min: a lead of a whole visit would make the
    # first patient due the moment they join, and short_first would be first come, first
    # served. The lead is at most half the cap.
    queue = make_queue(
        counters=("1",),
        mode=QueueMode.SHORT_FIRST,
        service_times_s=KINDS,
        default_service_s=1200,
        fairness_cap_s=1200,
    )
    join(queue, "long", at(0), service="consultation")
    join(queue, "short", at(10), service="pickup")
    assert line(queue) == ["short", "long"]
    queue.rank(at(601))  # half the cap past "long"'s FIFO call time (now): it is due
    assert line(queue) == ["long", "short"]
