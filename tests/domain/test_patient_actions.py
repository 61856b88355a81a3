"""What patients do from their phone: late, travel time, acknowledge, rate; and ETA notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from core.domain.errors import IllegalTransition, InvalidValue
from core.domain.eta import Eta
from core.domain.events import (
    EtaRevised,
    LeaveNowAdvised,
    TicketAcknowledged,
    TicketDelayed,
    TicketRated,
    TicketUnreachable,
)
from core.domain.model import QueueConfig, Ticket, TicketStatus
from core.domain.notify import eta_notice, intents_for

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def line_of(queue: object) -> list[str]:
    return [t.id for t in queue.waiting()]  # type: ignore[attr-defined]


def fill(queue: object, join: Join, n: int, **extra: object) -> None:
    for i in range(n):
        join(queue, f"t{i}", T0 + timedelta(minutes=i), **extra)


# -- late ---------------------------------------------------------------------------------


def test_late_moves_back_about_as_many_places_as_the_minutes_buy(
    make_queue: MakeQueue, join: Join
) -> None:
    # One open counter, 5-minute services: 10 minutes late is about two places.
    queue = make_queue(counters=("1",), default_service_s=300)
    fill(queue, join, 6)
    queue.delay("t1", 600, T0 + timedelta(minutes=10), "patient")
    assert line_of(queue) == ["t0", "t2", "t3", "t1", "t4", "t5"]
    [event] = [e for e in queue.events if isinstance(e, TicketDelayed)]
    assert (event.old_position, event.new_position, event.late_count) == (2, 4, 1)


def test_late_place_survives_a_later_reorder(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(counters=("1",), default_service_s=300)
    fill(queue, join, 5)
    queue.delay("t0", 300, T0 + timedelta(minutes=10), "patient")
    queue.reposition(T0 + timedelta(minutes=20), "staff")
    assert line_of(queue) == ["t1", "t0", "t2", "t3", "t4"]


def test_late_with_more_counters_buys_more_places(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(counters=("1", "2"), default_service_s=300)
    fill(queue, join, 6)
    queue.delay("t0", 300, T0, "patient")
    assert queue.tickets["t0"].position == 3


def test_late_at_the_back_stays_last_and_still_counts(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(counters=("1",))
    fill(queue, join, 3)
    queue.delay("t2", 3600, T0, "patient")
    assert line_of(queue) == ["t0", "t1", "t2"]
    assert queue.tickets["t2"].late_count == 1


def test_late_at_most_twice(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(counters=("1",))
    fill(queue, join, 5)
    queue.delay("t0", 60, T0, "patient")
    queue.delay("t0", 60, T0, "patient")
    with pytest.raises(InvalidValue, match="at most 2"):
        queue.delay("t0", 60, T0, "patient")


@pytest.mark.parametrize("delay_s", [0, -60, 121 * 60])
def test_late_needs_a_sensible_delay(make_queue: MakeQueue, join: Join, delay_s: int) -> None:
    queue = make_queue()
    fill(queue, join, 2)
    with pytest.raises(InvalidValue):
        queue.delay("t0", delay_s, T0, "patient")
    assert queue.tickets["t0"].late_count == 0


def test_late_only_while_waiting(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue()
    fill(queue, join, 2)
    queue.call_next("1", T0, "staff")
    with pytest.raises(IllegalTransition):
        queue.delay("t0", 300, T0, "patient")


# -- acknowledge and rate -------------------------------------------------------------------


def test_acknowledge_a_call_once(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue()
    fill(queue, join, 1)
    queue.call_next("2", T0, "staff")
    queue.acknowledge("t0", T0 + timedelta(seconds=20), "patient")
    queue.acknowledge("t0", T0 + timedelta(seconds=30), "patient")
    acks = [e for e in queue.events if isinstance(e, TicketAcknowledged)]
    assert [(a.counter, a.at) for a in acks] == [("2", T0 + timedelta(seconds=20))]
    assert queue.tickets["t0"].acknowledged_at == T0 + timedelta(seconds=20)


def test_acknowledge_needs_a_call_and_a_new_call_clears_it(
    make_queue: MakeQueue, join: Join
) -> None:
    queue = make_queue()
    fill(queue, join, 1)
    with pytest.raises(IllegalTransition):
        queue.acknowledge("t0", T0, "patient")
    queue.call_next("1", T0, "staff")
    queue.acknowledge("t0", T0, "patient")
    queue.return_to_line("t0", T0, "staff")
    assert queue.tickets["t0"].acknowledged_at is None


def test_a_call_is_marked_unreachable_once_and_a_recall_or_an_answer_clears_it(
    make_queue: MakeQueue, join: Join
) -> None:
    queue = make_queue()
    fill(queue, join, 1)
    assert not queue.mark_unreachable("t0", T0, T0)  # waiting: no call to give up on
    queue.call_next("1", T0, "staff")
    later = T0 + timedelta(seconds=210)
    assert queue.mark_unreachable("t0", T0, later)
    assert not queue.mark_unreachable("t0", T0, later)  # a second dispatcher: nothing
    marks = [e for e in queue.events if isinstance(e, TicketUnreachable)]
    assert [(m.counter, m.at, m.actor) for m in marks] == [("1", later, "system")]
    assert queue.tickets["t0"].unreachable_at == later
    queue.recall("t0", later, "staff")
    assert queue.tickets["t0"].unreachable_at is None
    assert not queue.mark_unreachable("t0", T0, later)  # the ladder of the first call is over
    assert queue.mark_unreachable("t0", later, later + timedelta(seconds=5))
    queue.acknowledge("t0", later + timedelta(seconds=9), "patient")
    assert queue.tickets["t0"].unreachable_at is None


def test_an_answered_call_is_never_marked_unreachable(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue()
    fill(queue, join, 1)
    queue.call_next("1", T0, "staff")
    queue.acknowledge("t0", T0 + timedelta(seconds=5), "patient")
    assert not queue.mark_unreachable("t0", T0, T0 + timedelta(seconds=300))


def test_rate_after_the_visit(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue()
    fill(queue, join, 1)
    with pytest.raises(IllegalTransition):
        queue.rate("t0", 5, T0, "patient")
    queue.call_next("1", T0, "staff")
    queue.start("t0", T0, "staff")
    queue.complete("t0", T0, "staff")
    for bad in (0, 6):
        with pytest.raises(InvalidValue):
            queue.rate("t0", bad, T0, "patient")
    queue.rate("t0", 4, T0, "patient")
    queue.rate("t0", 5, T0, "patient")
    assert queue.tickets["t0"].rating == 5
    assert [e.score for e in queue.events if isinstance(e, TicketRated)] == [4, 5]


def test_one_live_ticket_per_patient(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue()
    join(queue, "a", T0, telegram_chat_id=7)
    join(queue, "b", T0, phone="+34600111222")
    assert queue.live_ticket_of(7, None) is queue.tickets["a"]
    assert queue.live_ticket_of(None, "+34600111222") is queue.tickets["b"]
    assert queue.live_ticket_of(8, "+34600999999") is None
    queue.cancel("a", T0, "patient")
    assert queue.live_ticket_of(7, None) is None


# -- ETA notices ----------------------------------------------------------------------------


def waiting_patient(**fields: object) -> Ticket:
    return Ticket(
        id="t",
        queue="A",
        number="A-001",
        seq=1,
        token="x",
        joined_at=T0,
        line_at=T0,
        telegram_chat_id=1,
        **fields,  # type: ignore[arg-type]
    )


CONFIG = QueueConfig(eta_change_margin_s=600, eta_update_interval_s=900)
LATER = T0 + timedelta(minutes=20)


@pytest.mark.parametrize(
    ("fields", "estimate", "now", "expected"),
    [
        ({"announced_eta_s": 1800, "announced_at": T0}, Eta(1300, 1000, 1600), LATER, None),
        ({"announced_eta_s": 1800, "announced_at": T0}, Eta(1100, 900, 1300), LATER, "eta_changed"),
        (
            {"announced_eta_s": 1800, "announced_at": T0},
            Eta(2500, 2000, 3000),
            LATER,
            "eta_changed",
        ),
        # moved enough, but told only 10 minutes ago
        (
            {"announced_eta_s": 1800, "announced_at": T0},
            Eta(600, 400, 800),
            T0 + timedelta(minutes=10),
            None,
        ),
        ({}, Eta(600, 400, 800), LATER, None),  # never told anything: the join message will
        ({"travel_s": 900, "announced_eta_s": 1800}, Eta(1000, 850, 1200), T0, "leave_now"),
        ({"travel_s": 900, "announced_eta_s": 1800}, Eta(1300, 950, 1400), T0, None),
        (
            {"travel_s": 900, "leave_now_sent": True, "announced_eta_s": 900, "announced_at": T0},
            Eta(600, 400, 800),
            T0,
            None,
        ),
    ],
)
def test_eta_notice(
    fields: dict[str, object], estimate: Eta, now: datetime, expected: str | None
) -> None:
    assert eta_notice(waiting_patient(**fields), estimate, now, CONFIG) == expected


def test_advise_announces_a_big_change_once_per_interval(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(counters=("1",), default_service_s=300, eta_update_interval_s=900)
    for i in range(8):
        join(queue, f"t{i}", T0, telegram_chat_id=100 + i)
    queue.advise(T0)
    assert queue.tickets["t7"].announced_eta_s == 7 * 300
    queue.events.clear()
    # A second counter opens after 20 minutes: t7's wait drops from 35 to 15 minutes.
    queue.counters["2"] = type(queue.counters["1"])("2")
    queue.advise(T0 + timedelta(minutes=20))
    revised = {e.ticket_id: e for e in queue.events if isinstance(e, EtaRevised)}
    assert set(revised) == {"t3", "t4", "t5", "t6", "t7"}  # moved by 10 minutes or more
    assert (revised["t7"].previous_eta_s, revised["t7"].eta_s) == (2100, 900)
    queue.events.clear()
    queue.counters["3"] = type(queue.counters["1"])("3")
    queue.advise(T0 + timedelta(minutes=25))  # another big move, but within their interval
    assert not {e.ticket_id for e in queue.events if isinstance(e, EtaRevised)} & set(revised)


def test_advise_leave_now_once_when_the_wait_falls_under_travel_time(
    make_queue: MakeQueue, join: Join
) -> None:
    queue = make_queue(counters=("1",), default_service_s=300)
    for i in range(8):
        join(queue, f"t{i}", T0, telegram_chat_id=100 + i)
    queue.set_travel_time("t7", 15 * 60)
    leave_now = []
    for _ in range(4):
        queue.events.clear()  # as in the service: each command starts a fresh list
        queue.advise(T0)
        leave_now.append([e.ticket_id for e in queue.events if isinstance(e, LeaveNowAdvised)])
        served = queue.call_next("1", T0, "staff")
        queue.start(served.id, T0, "staff")
        queue.complete(served.id, T0, "staff")
    # The low end of t7's wait falls under 15 minutes once four patients are ahead.
    assert leave_now == [[], [], [], ["t7"]]
    queue.events.clear()
    queue.advise(T0)
    assert not [e for e in queue.events if isinstance(e, LeaveNowAdvised)]


def test_patients_without_a_channel_are_not_advised(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(counters=("1",))
    fill(queue, join, 3)
    queue.set_travel_time("t2", 3600)
    queue.advise(T0)
    assert not [e for e in queue.events if isinstance(e, LeaveNowAdvised | EtaRevised)]


def test_travel_time_limits(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue()
    fill(queue, join, 1)
    with pytest.raises(InvalidValue):
        queue.set_travel_time("t0", 0)
    queue.call_next("1", T0, "staff")
    with pytest.raises(IllegalTransition):
        queue.set_travel_time("t0", 600)


def test_only_eta_messages_carry_the_estimate(make_queue: MakeQueue, join: Join) -> None:
    queue = make_queue(counters=("1",), no_show_grace_s=240)
    ticket = join(queue, "a", T0, telegram_chat_id=5, language="es")
    [joined] = queue.events
    [intent] = intents_for(joined, ticket, queue.config, Eta(0, 0, 0))
    assert intent.params | {"eta_s": 0} == intent.params
    assert (intent.kind, intent.params["language"], intent.params["position"]) == (
        "joined",
        "es",
        1,
    )
    queue.call_next("1", T0, "staff")
    called = queue.events[-1]
    [call_intent] = intents_for(called, ticket, queue.config)
    assert call_intent.urgent and "eta_s" not in call_intent.params
    queue.mark_no_show("a", T0, "staff")
    [missed] = intents_for(queue.events[-1], ticket, queue.config, Eta(60, 0, 120))
    assert missed.kind == "missed" and "eta_s" not in missed.params
    assert ticket.status is TicketStatus.NO_SHOW
