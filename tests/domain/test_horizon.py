"""The two-hour forecast: its slots, what more counters and the opening hours do to it,
and the arrival rates it learns from hourly rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.eta import AtCounter, ServiceTime
from core.domain.horizon import (
    NO_ARRIVALS,
    SLOT_S,
    Horizon,
    HorizonSlot,
    HourlyArrivals,
    Present,
    forecast_horizon,
    learn_hourly_arrivals,
    present_of,
    queue_horizon,
)
from core.domain.hours import Schedule, parse_hours
from core.domain.model import OnClose
from tests.domain.conftest import build_queue, join_ticket

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday
ALWAYS = Schedule(None, (), ZoneInfo("UTC"))
FIVE_MIN = ServiceTime(300.0, 150.0, 50, "week")


def present(waiting: int, counters: int, busy: int = 0, **fields: object) -> Present:
    return Present(
        line=[FIVE_MIN] * waiting,
        at_counters=[AtCounter(FIVE_MIN, 60.0)] * busy,
        open_counters=counters,
        newcomer_mix=[FIVE_MIN],
        **fields,  # type: ignore[arg-type]
    )


def rates(per_hour: float) -> HourlyArrivals:
    return HourlyArrivals((per_hour,) * 24)


def hours(opening: str, closing: str) -> Schedule:
    week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return Schedule(parse_hours({d: [[opening, closing]] for d in week}), (), ZoneInfo("UTC"))


def test_eight_quarters_of_an_hour_from_now() -> None:
    horizon = forecast_horizon(present(4, 2), rates(10), ALWAYS, T0)
    assert horizon.generated_at == T0 and horizon.open_counters == 2
    assert [s.start for s in horizon.slots] == [T0 + timedelta(minutes=15 * n) for n in range(8)]
    assert all(s.end - s.start == timedelta(seconds=SLOT_S) for s in horizon.slots)


def test_the_same_inputs_give_the_same_forecast() -> None:
    first = forecast_horizon(present(20, 2, busy=2), rates(20), ALWAYS, T0)
    assert first == forecast_horizon(present(20, 2, busy=2), rates(20), ALWAYS, T0)


def test_a_line_without_arrivals_drains_at_the_counters_pace() -> None:
    slots = forecast_horizon(present(40, 2), NO_ARRIVALS, ALWAYS, T0).slots
    # Two counters, five minutes a visit: about 24 an hour leave the line.
    for index, slot in enumerate(slots):
        middle_min = 15 * index + 7.5
        assert abs(slot.line_length - max(0.0, 40 - middle_min * 2 / 5)) < 3, index
    assert slots[0].p90_wait_s is not None and slots[0].p90_wait_s > 90 * 60  # 40 ahead


def test_arrivals_beyond_the_counters_make_the_line_grow() -> None:
    slots = forecast_horizon(present(0, 1), rates(20), ALWAYS, T0).slots  # 1.67x capacity
    lengths = [s.line_length for s in slots]
    assert lengths == sorted(lengths) and lengths[-1] > 5
    waits = [s.p90_wait_s or 0 for s in slots]
    assert waits[-1] > waits[0]


def test_no_counter_open_no_wait_to_forecast_but_the_line_grows() -> None:
    horizon = forecast_horizon(present(3, 0), rates(12), ALWAYS, T0)
    assert all(s.p90_wait_s is None for s in horizon.slots)
    assert horizon.slots[-1].line_length > horizon.slots[0].line_length >= 3
    assert all(s.p90_wait_s_plus_one is not None for s in horizon.slots)  # one would serve


def test_nobody_joins_while_closed() -> None:
    slots = forecast_horizon(present(5, 1), rates(30), hours("08:00", "10:00"), T0).slots
    assert [s.open for s in slots] == [True] * 4 + [False] * 4
    assert all(s.p90_wait_s is None for s in slots[4:])
    closed = [s.line_length for s in slots[4:]]
    assert closed == sorted(closed, reverse=True)  # the line only drains after 10:00


def test_close_remaining_ends_the_line_at_closing() -> None:
    schedule = hours("08:00", "10:00")
    kept = forecast_horizon(present(30, 1), NO_ARRIVALS, schedule, T0).slots
    ended = forecast_horizon(present(30, 1, close_remaining=True), NO_ARRIVALS, schedule, T0)
    assert kept[5].line_length > 10 and ended.slots[5].line_length == 0
    assert kept[3].line_length == ended.slots[3].line_length  # the same before closing


def test_rates_are_read_by_local_hour() -> None:
    madrid = Schedule(None, (), ZoneInfo("Europe/Madrid"))  # 09:00 UTC is 10:00 there
    by_hour = [0.0] * 24
    by_hour[10] = 30.0
    busy_then = forecast_horizon(present(0, 1), HourlyArrivals(tuple(by_hour)), madrid, T0)
    busy_at_nine = list(by_hour)
    busy_at_nine[10], busy_at_nine[9] = 0.0, 30.0
    quiet_then = forecast_horizon(present(0, 1), HourlyArrivals(tuple(busy_at_nine)), madrid, T0)
    assert busy_then.slots[3].line_length > 1 and quiet_then.slots[3].line_length == 0


@settings(max_examples=25, deadline=None)
@given(
    waiting=st.integers(0, 60),
    counters=st.integers(0, 4),
    busy=st.integers(0, 4),
    per_hour=st.floats(0, 60),
    minute=st.integers(0, 59),
)
def test_one_more_counter_never_lengthens_the_line_or_the_wait(
    waiting: int, counters: int, busy: int, per_hour: float, minute: int
) -> None:
    now = T0 + timedelta(minutes=minute)
    horizon = forecast_horizon(
        present(waiting, counters, min(busy, counters)), rates(per_hour), ALWAYS, now
    )
    for slot in horizon.slots:
        assert slot.line_length_plus_one <= slot.line_length
        if slot.p90_wait_s is not None:
            assert slot.p90_wait_s_plus_one is not None
            assert slot.p90_wait_s_plus_one <= slot.p90_wait_s


def test_a_queue_as_the_forecast_sees_it() -> None:
    queue = build_queue(
        counters=("1", "2"), default_service_s=600, on_close=OnClose.CLOSE_REMAINING
    )
    for n in range(5):
        join_ticket(queue, f"t{n}", T0)
    queue.rank(T0)
    queue.call_next("1", T0, "staff")
    queue.counters["2"].is_open = False
    seen = present_of(queue, T0 + timedelta(minutes=4))
    assert seen.open_counters == 1 and len(seen.line) == 4 and seen.close_remaining
    assert [c.elapsed_s for c in seen.at_counters] == [240.0]
    # Newcomers bring visits like those of the four waiting, and four of the overall time.
    assert seen.newcomer_mix == [*seen.line] + [queue.service()] * 4
    horizon = queue_horizon(queue, NO_ARRIVALS, T0 + timedelta(minutes=4))
    assert horizon.open_counters == 1


def slot(start_min: int, p90_s: int | None, plus_one_s: int | None) -> HorizonSlot:
    start = T0 + timedelta(minutes=start_min)
    return HorizonSlot(start, start + timedelta(minutes=15), True, 1.0, p90_s, 1.0, plus_one_s)


def test_the_worst_wait_within_an_hour() -> None:
    horizon = Horizon(
        T0, 1, (slot(0, 100, 50), slot(45, 900, 300), slot(60, 5000, 10), slot(75, 9, 9))
    )
    assert horizon.worst_p90_within(3600) == (900, 300)
    assert Horizon(T0, 1, (slot(0, None, None),)).worst_p90_within(3600) == (None, None)


def test_arrival_rates_over_the_days_each_hour_was_open() -> None:
    now = T0 + timedelta(minutes=30)  # Monday 09:30
    weekdays = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    schedule = Schedule(parse_hours(weekdays), (date(2026, 2, 27),), ZoneInfo("UTC"))
    rows = [(T0 - timedelta(days=back), 12) for back in range(1, 8)]  # 09:00, each day
    rows += [(T0 - timedelta(days=3, hours=-1), 7)]  # Friday 10:00
    rows += [(T0, 99), (T0 - timedelta(days=8), 99)]  # not over yet; before the week
    learned = learn_hourly_arrivals(rows, now, schedule)
    # Over the week from last Monday 09:00, 09:00 was open on Mon, Tue, Wed and Thu (Friday
    # was a closure, the weekend closed): 4 days, though rows say 7 (a closed hour's row
    # still counts its joins: walk-ins staff added anyway).
    assert learned.per_hour[9] == 7 * 12 / 4
    assert learned.per_hour[10] == 7 / 4
    assert learned.per_hour[20] == 0.0
