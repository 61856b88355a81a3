"""When a queue's day is over, for its daily summary.

The one rule the summary's sending asks (`day_is_over`): today it is local midnight, in the
queue's time zone, so the summary of a day goes at the first housekeeping round after the
midnight that ends it. Opening hours can later end a day at its closing time: this function
is the one place to change.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_end(day: date, timezone: str) -> datetime:
    """The instant `day` ends in `timezone`: the local midnight after it (DST included)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(timezone))


def day_is_over(day: date, now: datetime, timezone: str) -> bool:
    """Whether the queue's `day` (a local date in `timezone`) is over at `now`."""
    return now >= day_end(day, timezone)


def last_day_over(now: datetime, timezone: str) -> date:
    """The latest local day that is over at `now`: today once `day_is_over` says so, else
    yesterday."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return today if day_is_over(today, now, timezone) else today - timedelta(days=1)
