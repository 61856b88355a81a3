"""Time passing on a quiet line: re-evaluated at a later time, the line is settled as after
a command, so the patients hear what time alone has made due, and nothing else."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from core.domain import notify
from core.domain.events import EtaRevised, LeaveNowAdvised, LineMoved, PositionChanged
from core.domain.model import QueueMode
from core.domain.queue import Queue
from core.domain.settle import SettledEvent, settle
from tests.domain.conftest import build_queue, join_ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TIMER = "system:timer"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def settle_command(queue: Queue, now: datetime) -> list[SettledEvent]:
    settled = settle([queue], queue.events, now)
    queue.events.clear()
    return settled


def time_passes(queue: Queue, since: datetime | None, now: datetime) -> list[SettledEvent]:
    """What the timer does: a queue loaded at `now` is ranked then (as every loaded queue
    is), re-evaluated and settled."""
    queue.rank(now)
    queue.reevaluate(now, since, TIMER)
    return settle_command(queue, now)


def kinds(settled: list[SettledEvent]) -> list[tuple[str, str | None, list[str]]]:
    return [
        (
            type(s.event).__name__,
            getattr(s.event, "ticket_id", None),
            [intent.kind.value for intent in s.intents],
        )
        for s in settled
    ]


def busy_line(**config: object) -> Queue:
    """One counter busy with a visit from T0 (300 s expected), two walk-ins, then "tg", a
    Telegram patient 15 minutes from home."""
    queue = build_queue(counters=("1",), notify_positions=(), **config)  # type: ignore[arg-type]
    join_ticket(queue, "at-counter", T0)
    join_ticket(queue, "w1", T0)
    join_ticket(queue, "w2", T0)
    join_ticket(queue, "tg", T0, telegram_chat_id=7)
    queue.set_travel_time("tg", 900)
    queue.call_next("1", T0, "staff:ana")
    settle_command(queue, T0)
    return queue


def test_the_line_is_told_what_time_has_made_due_exactly_when_the_policy_says() -> None:
    queue = busy_line(default_service_s=600, eta_change_margin_s=60, eta_update_interval_s=120)
    patient = queue.tickets["tg"]
    assert not patient.leave_now_sent  # not yet: the wait is longer than the way here
    told_at, told_eta_s = patient.announced_at, patient.announced_eta_s
    assert told_at == T0 and told_eta_s is not None
    leave_now_at, revised_at = [], []
    since = T0
    for step in range(1, 41):  # 20 minutes of a quiet line, every 30 s
        now = at(30 * step)
        before = dataclasses.replace(patient)
        estimate = queue.estimates(now)["tg"]
        settled = time_passes(queue, since, now)
        since = now
        # The policy, read off the patient's state before and the forecast at `now`.
        expected = notify.eta_notice(before, estimate, now, queue.config)
        got = [s for s in settled if s.event.ticket_id == "tg"]  # type: ignore[attr-defined]
        if expected is None:
            assert got == [], now
            assert patient.announced_at == before.announced_at
            continue
        assert [s.intents[0].kind for s in got] == [expected]
        assert got[0].intents[0].params["eta_s"] == estimate.eta_s
        assert patient.announced_at == now and patient.announced_eta_s == estimate.eta_s
        if expected is notify.MessageKind.LEAVE_NOW:
            assert estimate.low_s <= 900
            leave_now_at.append(now)
        else:
            assert isinstance(got[0].event, EtaRevised)
            assert abs(estimate.eta_s - (before.announced_eta_s or 0)) >= 60
            assert (now - (before.announced_at or T0)).total_seconds() >= 120
            revised_at.append(now)
    assert len(leave_now_at) == 1, "leave now, once, with no command happening"
    assert revised_at, "the ETA changed by the margin as the visit at the counter went on"
    # Nobody else reachable, and a FIFO line keeps its order: no other event.
    assert patient.leave_now_sent


def test_a_line_where_nothing_changed_gives_nothing_and_changes_no_ticket() -> None:
    # Counters idle: nobody's wait moves with time, nobody is due anything.
    queue = build_queue(counters=("1",), default_service_s=600)
    for name in ("a", "b", "c"):
        join_ticket(queue, name, T0, telegram_chat_id=hash(name) % 1000)
    settle_command(queue, T0)
    stored = {i: dataclasses.replace(t, position=None) for i, t in queue.tickets.items()}
    since = T0
    for minutes in (1, 5, 30, 120):
        now = T0 + timedelta(minutes=minutes)
        assert time_passes(queue, since, now) == []
        since = now
    assert {i: dataclasses.replace(t, position=None) for i, t in queue.tickets.items()} == stored
    assert not queue.time_passed, "settling clears it"


def test_a_patient_told_is_not_told_again_at_the_next_round() -> None:
    queue = busy_line(default_service_s=600)
    assert [k for k in kinds(time_passes(queue, T0, at(900))) if k[1] == "tg"] == [
        ("LeaveNowAdvised", "tg", ["leave_now"])
    ]
    assert time_passes(queue, at(900), at(901)) == []


def test_under_dynamic_weights_an_order_changed_by_time_is_announced_once() -> None:
    queue = build_queue(counters=("1",), mode=QueueMode.DYNAMIC, notify_positions=(1,))
    join_ticket(queue, "walk-in", at(0), telegram_chat_id=1)
    # Booked for 40 minutes from now: its score rises over the 30 minutes before.
    join_ticket(queue, "booked", at(1), appointment_at=at(2400), telegram_chat_id=2)
    settle_command(queue, at(1))
    assert [t.id for t in queue.waiting()] == ["walk-in", "booked"]

    assert time_passes(queue, at(1), at(300)) == []  # still the same order
    settled = time_passes(queue, at(300), at(1800))
    assert [t.id for t in queue.waiting()] == ["booked", "walk-in"]
    moved = [s.event for s in settled if isinstance(s.event, LineMoved)]
    assert len(moved) == 1 and moved[0].actor == TIMER and moved[0].waiting == 2
    # The booked patient has come first with time alone: "getting close" at place 1.
    close = [s for s in settled if isinstance(s.event, PositionChanged)]
    assert [(s.event.ticket_id, s.event.new_position) for s in close] == [("booked", 1)]
    assert time_passes(queue, at(1800), at(1830)) == []  # announced once


def test_short_first_announces_a_patient_whose_cap_is_about_to_run_out() -> None:
    queue = build_queue(
        counters=("1",),
        mode=QueueMode.SHORT_FIRST,
        service_times_s={"pickup": 120, "consultation": 900},
        default_service_s=300,
        fairness_cap_s=3000,
        notify_positions=(),
    )
    join_ticket(queue, "busy", at(0), service="consultation")
    queue.start(queue.call_next("1", at(0), "staff").id, at(0), "staff")
    join_ticket(queue, "long", at(1), service="consultation")
    join_ticket(queue, "short", at(2), service="pickup")
    join_ticket(queue, "short2", at(3), service="pickup")
    short = queue.call_next("1", at(900), "staff")  # the call FIFO would have made to "long"
    assert short.id == "short"
    queue.start(short.id, at(900), "staff")
    settle_command(queue, at(900))
    assert [t.id for t in queue.waiting()] == ["short2", "long"]

    assert not [s for s in time_passes(queue, at(900), at(3000)) if isinstance(s.event, LineMoved)]
    # The cap runs out at 900 + 3000 s; the pickup in progress is sure to be over within
    # three spreads of it (it has run long): from then on nobody passes "long".
    settled = time_passes(queue, at(3000), at(3800))
    assert [t.id for t in queue.waiting()] == ["long", "short2"]
    assert [type(s.event) for s in settled] == [LineMoved]


def test_a_fifo_line_or_a_first_round_announces_no_move() -> None:
    queue = build_queue(counters=("1",), notify_positions=())
    join_ticket(queue, "a", at(0), priority=0)
    join_ticket(queue, "b", at(5), priority=3)
    settle_command(queue, at(5))
    assert time_passes(queue, at(5), at(7200)) == []

    dynamic = build_queue(counters=("1",), mode=QueueMode.DYNAMIC, notify_positions=())
    join_ticket(dynamic, "walk-in", at(0))
    join_ticket(dynamic, "booked", at(1), appointment_at=at(2400))
    settle_command(dynamic, at(1))
    # Never re-evaluated before: nothing to compare the order with (commands announced
    # their own changes), so no move is announced.
    assert time_passes(dynamic, None, at(1800)) == []


def test_leave_now_is_advised_only_to_a_patient_with_a_travel_time() -> None:
    queue = busy_line(default_service_s=600)
    queue.tickets["tg"].travel_s = None
    settled = time_passes(queue, T0, at(900))
    assert not [s for s in settled if isinstance(s.event, LeaveNowAdvised)]
