"""Opening hours and closure dates: when a queue takes patients.

A week of hours is kept per weekday in the queue's time zone, each day a list of intervals
`("08:00", "13:00")`. An interval whose end is not after its start spans midnight
(`("22:00", "02:00")`) and belongs to the day it starts: a closure date, or the weekday's
hours, decide about it by its start. A weekday left out of the week is closed all day.

Local clock times are turned into instants with zoneinfo's first reading (fold=0): on a
day the clocks go back, an ambiguous time (01:30 twice) is the first of the two; on a day
they jump forward, a time that does not exist (02:30 when 02:00 becomes 03:00) is read
with the offset before the jump, so it falls as late after the jump as it was meant after
02:00 (02:30 is 03:30 new time). The period is therefore never lost nor doubled.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.domain.errors import InvalidValue

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The keys of a week of hours, in `date.weekday()` order."""
MAX_INTERVALS_PER_DAY = 8
MAX_CLOSURES = 366
SCAN_DAYS = MAX_CLOSURES + 8
"""How far ahead the next opening or closing is looked for: past a year of closures."""
CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")

Interval = tuple[time, time]


@dataclass(frozen=True)
class OpeningHours:
    """Intervals per weekday, `days[0]` Monday; each day's sorted by start."""

    days: tuple[tuple[Interval, ...], ...]

    def to_json(self) -> dict[str, list[list[str]]]:
        """The API's and the table's form: every weekday, closed ones as `[]`."""
        return {
            name: [[_clock(start), _clock(end)] for start, end in day]
            for name, day in zip(WEEKDAYS, self.days, strict=True)
        }


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


def parse_clock(text: object, where: str) -> time:
    if not isinstance(text, str) or not CLOCK.fullmatch(text):
        raise InvalidValue(f"opening_hours {where}: {text!r} is not a time as HH:MM (00:00-23:59)")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def parse_hours(raw: Mapping[str, object]) -> OpeningHours:
    """A week of hours as the API sends it, checked: known weekdays, HH:MM times, no empty
    interval, no two intervals of a day, or of a day and the one before it spilling over
    midnight, overlapping."""
    if not isinstance(raw, Mapping):
        raise InvalidValue("opening_hours must map weekdays (mon ... sun) to lists of intervals")
    unknown = sorted(str(k) for k in raw if k not in WEEKDAYS)
    if unknown:
        raise InvalidValue(
            f"opening_hours: unknown weekday {', '.join(unknown)}; use {', '.join(WEEKDAYS)}"
        )
    days: list[tuple[Interval, ...]] = []
    for name in WEEKDAYS:
        intervals = raw.get(name, [])
        if not isinstance(intervals, Sequence) or isinstance(intervals, str):
            raise InvalidValue(f"opening_hours {name}: a list of [start, end] intervals")
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            raise InvalidValue(f"opening_hours {name}: at most {MAX_INTERVALS_PER_DAY} intervals")
        day: list[Interval] = []
        for interval in intervals:
            if (
                not isinstance(interval, Sequence)
                or isinstance(interval, str)
                or len(interval) != 2
            ):
                raise InvalidValue(f"opening_hours {name}: each interval is [start, end]")
            start = parse_clock(interval[0], name)
            end = parse_clock(interval[1], name)
            if start == end:
                raise InvalidValue(
                    f"opening_hours {name}: {_clock(start)}-{_clock(end)} is empty "
                    "(start and end are the same)"
                )
            day.append((start, end))
        days.append(tuple(sorted(day)))
    hours = OpeningHours(tuple(days))
    _check_overlaps(hours)
    return hours


def _check_overlaps(hours: OpeningHours) -> None:
    """On a reference week (and the Monday after, for Sunday's spill) every interval as
    minutes since Monday 00:00; any two overlapping are refused, naming both."""
    spans: list[tuple[int, int, str]] = []
    for index, day in enumerate(hours.days):
        for start, end in day:
            begin = index * 1440 + start.hour * 60 + start.minute
            finish = index * 1440 + end.hour * 60 + end.minute + (0 if end > start else 1440)
            label = f"{WEEKDAYS[index]} {_clock(start)}-{_clock(end)}"
            spans.append((begin, finish, label))
            spans.append((begin + 7 * 1440, finish + 7 * 1440, label))
    spans.sort()
    for (_, first_end, first), (second_start, _, second) in itertools.pairwise(spans):
        if second_start < first_end and first != second:
            raise InvalidValue(f"opening_hours: {first} overlaps {second}")


def parse_closures(raw: Sequence[object]) -> tuple[date, ...]:
    """Closure dates as ISO strings (`2026-12-25`), sorted, each once."""
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise InvalidValue("closures must be a list of dates as YYYY-MM-DD")
    if len(raw) > MAX_CLOSURES:
        raise InvalidValue(f"closures: at most {MAX_CLOSURES} dates")
    dates: set[date] = set()
    for item in raw:
        if isinstance(item, date):
            dates.add(item)
            continue
        try:
            if not isinstance(item, str) or len(item) != 10:
                raise ValueError
            dates.add(date.fromisoformat(item))
        except ValueError:
            raise InvalidValue(f"closures: {item!r} is not a date as YYYY-MM-DD") from None
    return tuple(sorted(dates))


def local_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """`clock` on `day` in `zone` as an instant (UTC): the module's docstring says how a
    time the clocks skip or repeat is read."""
    return datetime.combine(day, clock, zone).astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """A queue's hours and closures in its zone. `hours` None: open all day, every day
    that is not a closure."""

    hours: OpeningHours | None
    closures: tuple[date, ...]
    zone: ZoneInfo

    def always_open(self) -> bool:
        return self.hours is None and not self.closures

    def is_open(self, now: datetime) -> bool:
        return self.always_open() or self._period_at(now) is not None

    def closes_at(self, now: datetime) -> datetime | None:
        """When the open period `now` is in ends (periods that touch count as one); None
        when closed now, or never closing within the look-ahead (always open)."""
        if self.always_open():
            return None
        current = self._period_at(now)
        if current is None:
            return None
        end = current[1]
        for start, finish in self._periods_from(now):
            if start > end:
                return end
            end = max(end, finish)
        return None

    def opens_at(self, now: datetime) -> datetime | None:
        """When the queue next opens after `now`: the start of the next period when closed,
        that of the period after the current one when open. None: it never opens within
        the look-ahead (no hours at all, or always open)."""
        if self.always_open():
            return None
        closes = self.closes_at(now) if self.is_open(now) else now
        if closes is None:
            return None
        for start, _ in self._periods_from(closes):
            if start >= closes:
                return start
        return None

    def day_closes_at(self, day: date) -> datetime | None:
        """When the last open period that starts on `day` (local) ends; None when none
        starts that day (no hours at all, a closure, a weekday it is closed)."""
        if self.hours is None or day in self.closures:
            return None
        return max((end for _, end in self._day_periods(day)), default=None)

    def _period_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        for start, end in self._periods_from(now):
            if start <= now < end:
                return start, end
            if start > now:
                return None
        return None

    def _periods_from(self, now: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open periods not ended by `now`, in order, from the local day before (its
        intervals may span midnight) to SCAN_DAYS ahead, each as UTC instants."""
        first = now.astimezone(self.zone).date() - timedelta(days=1)
        closed = set(self.closures)
        for offset in range(SCAN_DAYS):
            day = first + timedelta(days=offset)
            if day in closed:
                continue
            for start, end in self._day_periods(day):
                if end > now:
                    yield start, end

    def _day_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        if self.hours is None:
            midnight = time(0, 0)
            return [
                (
                    local_instant(day, midnight, self.zone),
                    local_instant(day + timedelta(days=1), midnight, self.zone),
                )
            ]
        periods = []
        for start, end in self.hours.days[day.weekday()]:
            end_day = day if end > start else day + timedelta(days=1)
            begin = local_instant(day, start, self.zone)
            finish = local_instant(end_day, end, self.zone)
            if finish > begin:  # 01:30-02:30 on a spring-forward day still has an hour
                periods.append((begin, finish))
        return periods
