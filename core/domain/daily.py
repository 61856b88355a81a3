"""When a queue's day is over, for its daily summary (`day_is_over`, the one rule).

Without opening hours a day ends at the local midnight after it, in the queue's time zone.
With hours it ends when its last open period closes (the closing time the patients were
given), as soon as nobody is left waiting or called: a queue serving its remaining line
after closing (`serve_remaining`) is reported once that line is done, and at the local
midnight at the latest. A period that runs past midnight (a night shift) ends its day when
it closes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.domain.hours import Schedule


def day_end(day: date, timezone: str) -> datetime:
    """The instant `day` ends in `timezone`: the local midnight after it (DST included)."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(timezone))


def day_is_over(day: date, now: datetime, schedule: Schedule, line_left: bool = False) -> bool:
    """Whether the queue's `day` (a local date in its zone) is over at `now`. `line_left`:
    somebody is still waiting or called in the queue (this only holds up a day whose
    closing time has passed before its midnight)."""
    midnight = day_end(day, schedule.zone.key)
    closes = schedule.day_closes_at(day)
    if closes is None:
        return now >= midnight
    if closes >= midnight:
        return now >= closes
    return now >= midnight or (now >= closes and not line_left)


def last_day_over(now: datetime, schedule: Schedule, line_left: bool = False) -> date:
    """The latest local day that is over at `now`: today once `day_is_over` says so, else
    yesterday, else (yesterday's night shift still open) the day before."""
    today = now.astimezone(schedule.zone).date()
    for day in (today, today - timedelta(days=1)):
        if day_is_over(day, now, schedule, line_left):
            return day
    return today - timedelta(days=2)
