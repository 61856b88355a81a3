"""When a queue's day is over, for its daily summary: local midnight in its time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.domain.daily import day_end, day_is_over, last_day_over


def test_a_day_is_over_at_the_local_midnight_after_it() -> None:
    day = date(2026, 3, 2)
    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    assert not day_is_over(day, midnight - timedelta(microseconds=1), "UTC")
    assert day_is_over(day, midnight, "UTC")


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
    assert not day_is_over(day, ends_utc - timedelta(seconds=1), timezone)
    assert day_is_over(day, ends_utc, timezone)


def test_the_last_day_over_is_yesterday_in_local_time() -> None:
    now = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 00:30 on the 3rd in Madrid
    assert last_day_over(now, "UTC") == date(2026, 3, 1)
    assert last_day_over(now, "Europe/Madrid") == date(2026, 3, 2)
    assert last_day_over(now, "America/New_York") == date(2026, 3, 1)
