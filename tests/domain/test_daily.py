"""When a queue's day is over, for its daily summary: at its closing time once nobody is
left, else (and without hours) at the local midnight in its time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.domain.daily import day_end, day_is_over, last_day_over
from core.domain.hours import Schedule, parse_closures, parse_hours

MADRID = ZoneInfo("Europe/Madrid")
WEEKDAYS = {day: [["08:00", "13:00"], ["14:00", "18:00"]] for day in ("mon", "tue", "wed")}


def always(timezone: str = "UTC") -> Schedule:
    return Schedule(None, (), ZoneInfo(timezone))


def hours(week: dict[str, list[list[str]]], closures: tuple[str, ...] = ()) -> Schedule:
    return Schedule(parse_hours(week), parse_closures(list(closures)), MADRID)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=MADRID)


def test_a_day_is_over_at_the_local_midnight_after_it() -> None:
    day = date(2026, 3, 2)
    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    assert not day_is_over(day, midnight - timedelta(microseconds=1), always())
    assert day_is_over(day, midnight, always())


@pytest.mark.parametrize(
    ("timezone", "day", "ends_utc"),
    [
        ("Europe/Madrid", date(2026, 3, 2), datetime(2026, 3, 2, 23, tzinfo=UTC)),
        ("America/New_York", date(2026, 3, 2), datetime(2026, 3, 3, 5, tzinfo=UTC)),
        # The day clocks go forward (23 hours long) and back (25 hours long).
        ("Europe/Madrid", date(2026, 3, 29), datetime(2026, 3, 29, 22, tzinfo=UTC)),
        ("Europe/Madrid", date(2026, 10, 25), datetime(2026, 10, 25, 23, tzinfo=UTC)),
        ("Pacific/Kiritimati", date(2026, 3, 2), datetime(2026, 3, 2, 10, tzinfo=UTC)),
    ],
)
def test_the_day_ends_in_the_queues_time_zone(timezone: str, day: date, ends_utc: datetime) -> None:
    assert day_end(day, timezone) == ends_utc
    assert not day_is_over(day, ends_utc - timedelta(seconds=1), always(timezone))
    assert day_is_over(day, ends_utc, always(timezone))


def test_the_last_day_over_is_yesterday_in_local_time() -> None:
    now = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 00:30 on the 3rd in Madrid
    assert last_day_over(now, always("UTC")) == date(2026, 3, 1)
    assert last_day_over(now, always("Europe/Madrid")) == date(2026, 3, 2)
    assert last_day_over(now, always("America/New_York")) == date(2026, 3, 1)


def test_with_hours_the_day_is_over_at_its_last_closing_time() -> None:
    schedule = hours(WEEKDAYS)  # 2026-03-02 is a Monday
    monday = date(2026, 3, 2)
    assert not day_is_over(monday, local(2, 13, 30), schedule)  # the lunch gap is not the end
    assert not day_is_over(monday, local(2, 17, 59), schedule)
    assert day_is_over(monday, local(2, 18), schedule)
    assert last_day_over(local(2, 18, 1), schedule) == monday
    assert last_day_over(local(2, 17), schedule) == date(2026, 3, 1)


def test_a_line_served_after_closing_holds_the_day_until_it_is_done_or_midnight() -> None:
    schedule = hours(WEEKDAYS)
    monday = date(2026, 3, 2)
    assert not day_is_over(monday, local(2, 19), schedule, line_left=True)
    assert day_is_over(monday, local(2, 19), schedule, line_left=False)
    assert day_is_over(monday, local(3, 0), schedule, line_left=True)


def test_a_night_shift_ends_its_day_when_it_closes_after_midnight() -> None:
    schedule = hours({"mon": [["20:00", "02:00"]]})
    monday = date(2026, 3, 2)
    assert not day_is_over(monday, local(3, 1), schedule)  # past midnight, still open
    assert day_is_over(monday, local(3, 2), schedule)
    assert last_day_over(local(3, 1), schedule) == date(2026, 3, 1)
    assert last_day_over(local(3, 2, 30), schedule) == monday


def test_a_closed_day_ends_at_midnight() -> None:
    schedule = hours(WEEKDAYS, closures=("2026-03-02",))
    monday = date(2026, 3, 2)
    assert not day_is_over(monday, local(2, 18, 30), schedule)
    assert day_is_over(monday, local(3, 0), schedule)
    assert schedule.day_closes_at(date(2026, 3, 7)) is None  # a Saturday: no hours
