"""The forecast that expects overtaking (issue 20): learned arrival rates, who passes whom,
and the properties the forecast keeps; the fairness cap as a bound the engine keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from core.domain import arrivals
from core.domain.arrivals import ArrivalClass, ArrivalHistory, JoinSample
from core.domain.model import QueueMode
from core.domain.queue import SURE_SPREADS, Queue
from tests.domain.conftest import build_queue, join_ticket

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
KINDS = {"short": 120, "long": 900}
PLAIN = settings(max_examples=60, deadline=None)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def week_of_joins(per_hour: int, kind: str, priority: int, booked: bool = False) -> ArrivalHistory:
    """Seven past days with `per_hour` joins every hour from 8 to 18."""
    history = ArrivalHistory("UTC")
    for day in range(1, 8):
        for hour in range(8, 18):
            for index in range(per_hour):
                joined_at = T0 - timedelta(days=day) + timedelta(hours=hour - 9, seconds=index)
                lead_s = 600.0 if booked else None
                history.add(JoinSample(joined_at, kind, priority, lead_s))
    return history


def test_rates_are_the_joins_per_hour_of_a_full_week() -> None:
    rates = week_of_joins(12, "short", 1).learn(T0)
    assert set(rates) == {ArrivalClass("short", 1, False)}
    assert abs(rates[ArrivalClass("short", 1, False)].per_s * 3600 - 12) < 1e-9


def test_a_new_queue_expects_nobody_and_a_short_history_is_shrunk() -> None:
    assert ArrivalHistory("UTC").learn(T0) == {}
    history = ArrivalHistory("UTC")
    for index in range(30):  # a busy first hour today, nothing before
        history.add(JoinSample(T0 - timedelta(minutes=60 - 2 * index), "short", 0))
    per_hour = history.learn(T0)[ArrivalClass("short", 0, False)].per_s * 3600
    assert 0 < per_hour < 30


def test_joins_leave_the_week() -> None:
    history = week_of_joins(6, "short", 0)
    assert history.learn(T0 + timedelta(days=8)) == {}
    rates = arrivals.learn_arrival_rates([JoinSample(T0 - timedelta(days=9), "long", 0)], T0, "UTC")
    assert rates == {}


def line_queue(
    mode: QueueMode, counters: int, kinds: list[tuple[str, int]], **config: Any
) -> Queue:
    queue = build_queue(
        counters=tuple(str(n) for n in range(1, counters + 1)),
        mode=mode,
        service_times_s=KINDS,
        default_service_s=300,
        **config,
    )
    for index, (kind, priority) in enumerate(kinds):
        join_ticket(queue, f"t{index}", at(index), priority=priority, service=kind)
    return queue


def test_later_arrivals_of_a_higher_priority_lengthen_the_wait_under_dynamic_only() -> None:
    kinds = [("long", 0)] * 6
    rates = week_of_joins(10, "short", 3).learn(at(6))
    for mode, longer in ((QueueMode.DYNAMIC, True), (QueueMode.SHORT_FIRST, True)):
        # a cap the long visits can keep (900 s, sure within 2,250 s): with a shorter one
        # nobody whose turn has come is passed, and short_first is first come, first served
        queue = line_queue(mode, 2, kinds, fairness_cap_s=3600)
        plain = queue.estimates(at(6))
        queue.arrival_rates = rates
        expecting = queue.estimates(at(6))
        assert (expecting["t5"].eta_s > plain["t5"].eta_s) is longer
        assert (
            expecting["t5"].high_s - expecting["t5"].low_s > plain["t5"].high_s - plain["t5"].low_s
        )
    fifo = line_queue(QueueMode.FIFO, 2, kinds)
    plain = fifo.estimates(at(6))
    fifo.arrival_rates = rates
    assert fifo.estimates(at(6)) == plain


def test_short_first_stops_expecting_passers_once_the_cap_is_near() -> None:
    """Shorter visits pass a long one only until it is due: the expected wait is bounded
    by the cap, however busy the short visits."""
    queue = line_queue(QueueMode.SHORT_FIRST, 1, [("long", 0)] * 3)
    queue.arrival_rates = week_of_joins(40, "short", 0).learn(at(3))
    last = queue.ticket("t2")
    assert last.fifo_call_at is not None
    eta_s = queue.estimates(at(3))["t2"].eta_s
    fifo_wait_s = (last.fifo_call_at - at(3)).total_seconds()
    assert eta_s > fifo_wait_s  # passed...
    assert eta_s <= fifo_wait_s + queue.config.fairness_cap_s  # ...but no longer than the cap


lines_st = st.lists(
    st.tuples(st.sampled_from(sorted(KINDS)), st.integers(0, 3)), min_size=1, max_size=12
)
modes_st = st.sampled_from(list(QueueMode))
rates_st = st.sampled_from(
    [
        week_of_joins(8, "short", 0).learn(at(20)),
        week_of_joins(6, "long", 2).learn(at(20)),
        week_of_joins(5, "short", 3, booked=True).learn(at(20)),
    ]
)


@PLAIN
@given(lines_st, modes_st, rates_st, st.integers(1, 3))
def test_more_counters_never_lengthen_the_forecast(kinds, mode, rates, counters) -> None:  # type: ignore[no-untyped-def]
    queue = line_queue(mode, counters, kinds)
    queue.arrival_rates = rates
    fewer, more = queue.joiner_eta(at(20)), queue.joiner_eta(at(20), extra_counters=1)
    assert more.eta_s <= fewer.eta_s
    assert more.high_s <= fewer.high_s


@PLAIN
@given(lines_st, modes_st, rates_st, st.sampled_from(sorted(KINDS)), st.integers(0, 2))
def test_a_higher_priority_never_waits_longer(kinds, mode, rates, kind, priority) -> None:  # type: ignore[no-untyped-def]
    def forecast_of(own_priority: int) -> int:
        queue = line_queue(mode, 2, kinds)
        queue.arrival_rates = rates
        join_ticket(queue, "me", at(20), priority=own_priority, service=kind)
        return queue.estimates(at(20))["me"].eta_s

    assert forecast_of(priority + 1) <= forecast_of(priority)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(KINDS)),
            st.integers(0, 2),
            st.floats(0, 150),
            st.floats(0, 1),
        ),
        min_size=2,
        max_size=40,
    ),
    st.integers(1, 4),
)
def test_short_first_calls_nobody_later_than_the_cap_past_their_fifo_turn(
    arrivals, counters
) -> None:  # type: ignore[no-untyped-def]
    """The cap as a bound the engine keeps. Counters call the next patient whenever they are
    free; every visit ends by the time it is sure to (its expected length and
    `SURE_SPREADS` spreads: here a random share of that), and the cap is no shorter than the
    longest of those (a long visit started just before someone's turn may hold the only
    counter that long). Then nobody is called later than the fairness cap past the call
    first come, first served (a higher priority first) would have given them, whatever
    the kinds, priorities and arrival times."""
    queue = build_queue(
        counters=tuple(str(n) for n in range(1, counters + 1)),
        mode=QueueMode.SHORT_FIRST,
        service_times_s=KINDS,
        default_service_s=300,
        fairness_cap_s=2400,  # the long visit (900 s, spread 450 s) is sure to take 2250 s
    )
    cap_s = queue.config.fairness_cap_s
    pending = []
    now_s = 0.0
    for index, (kind, priority, gap_s, share) in enumerate(arrivals):
        now_s += gap_s
        pending.append((now_s, f"j{index}", kind, priority, share))
    shares = {ticket_id: share for _, ticket_id, _, _, share in pending}
    free_at = dict.fromkeys(queue.counters, 0.0)  # when each counter's visit ends
    now_s, passed_over = 0.0, 0
    while pending or queue.size():
        free = [c for c, end_s in free_at.items() if end_s <= now_s]
        if free and queue.size():
            called = queue.call_next(free[0], at(now_s), "staff")
            queue.start(called.id, at(now_s), "staff")
            if called.fifo_call_no is None:  # its turn had come: the bound holds
                assert at(now_s) <= called.fifo_call_at + timedelta(seconds=cap_s)
                passed_over += called.fifo_call_at < at(now_s)
            expected = queue.expected_service(called)
            sure_s = expected.mean_s + SURE_SPREADS * expected.sd_s
            free_at[free[0]] = now_s + shares[called.id] * sure_s
            continue
        next_s = [end_s for end_s in free_at.values() if end_s > now_s]
        if pending:
            next_s.append(pending[0][0])
        now_s = max(now_s, min(next_s))
        while pending and pending[0][0] <= now_s:
            _, ticket_id, kind, priority, _ = pending.pop(0)
            join_ticket(queue, ticket_id, at(now_s), priority=priority, service=kind)
    # the runs where somebody was called after their turn came (short visits went first)
    event(f"called after their turn: {passed_over > 0}")
