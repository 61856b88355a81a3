"""Learned arrival rates: how many patients of each kind of visit, priority and booking
join in an hour of the day, from the joins of the last 7 days.

The forecast needs them under the ordering modes that let later patients pass (a higher
priority, a shorter visit, an appointment coming due): the work expected to arrive ahead
of a waiting patient is the rate of those who pass them times what their visits take.
Rates are per local hour of day in the queue's time zone, averaged over the days the
history covers; a queue with a short history is shrunk towards its rate over every hour
and a queue with none expects nobody (the forecast is then the plain one).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

ARRIVAL_WINDOW = timedelta(days=7)
PRIOR_DAYS = 1.0
"""Days' worth of weight the rate over every hour of the day counts for against the
hour's own count: one day of history is half its hour's own, a week seven eighths."""
HOURS_AHEAD = 2
"""The hours whose rates are averaged: the current one and the next (a lunch gap or the
evening lull is seen coming)."""


@dataclass(frozen=True)
class JoinSample:
    joined_at: datetime
    service: str | None
    """The kind of visit, when known."""
    priority: int
    appointment_lead_s: float | None = None
    """How long before their appointment a booked patient joined (None: a walk-in)."""


@dataclass(frozen=True)
class ArrivalClass:
    service: str | None
    priority: int
    booked: bool


@dataclass(frozen=True)
class ArrivalRate:
    per_s: float
    """Expected joins per second over the next `HOURS_AHEAD` hours."""
    appointment_lead_s: float = 0.0
    """For booked patients, how long before their appointment they join, on average."""


ArrivalRates = Mapping[ArrivalClass, ArrivalRate]


def join_sample(
    joined_at: datetime, service: str | None, priority: int, appointment_at: datetime | None
) -> JoinSample:
    """A stored ticket's join, as arrival rates are learned from."""
    lead_s = None if appointment_at is None else (appointment_at - joined_at).total_seconds()
    return JoinSample(joined_at, service, priority, lead_s)


def class_of(sample: JoinSample) -> ArrivalClass:
    return ArrivalClass(*_class_key(sample))


_ClassKey = tuple[str | None, int, bool]
"""An `ArrivalClass`'s fields, as a history counts its joins: a plain tuple hashes and
compares in C, and every join is counted in and out of the window by its class."""


def _class_key(sample: JoinSample) -> _ClassKey:
    return sample.service, sample.priority, sample.appointment_lead_s is not None


class ArrivalHistory:
    """The joins of the last `ARRIVAL_WINDOW`, counted by local hour of day and class, so
    that learning costs neither a pass over the week nor more as the week fills up.

    Joins are expected in about the order of their time (a process's commits, polls of
    other processes' joins): one that comes late is counted and leaves the window a little
    late."""

    def __init__(self, timezone: str, earlier: Iterable[JoinSample] = ()) -> None:
        self._tz = ZoneInfo(timezone)
        self._joins: deque[tuple[datetime, int, _ClassKey, float | None]] = deque()
        self._counts: dict[tuple[int, _ClassKey], int] = {}
        self._leads: dict[_ClassKey, tuple[float, int]] = {}
        self._first: datetime | None = None
        self._cache: tuple[tuple[int, int, int], dict[ArrivalClass, ArrivalRate]] | None = None
        self._version = 0
        for sample in sorted(earlier, key=lambda s: s.joined_at):
            self.add(sample)

    def copy(self) -> ArrivalHistory:
        """An independent history with the same joins: adding to or learning from either
        leaves the other as it was (the counts are rebuilt for nobody)."""
        twin = copy.copy(self)
        twin._joins = self._joins.copy()
        twin._counts = dict(self._counts)
        twin._leads = dict(self._leads)
        return twin

    def add(self, sample: JoinSample) -> None:
        hour = sample.joined_at.astimezone(self._tz).hour
        kind = _class_key(sample)
        self._joins.append((sample.joined_at, hour, kind, sample.appointment_lead_s))
        self._count(hour, kind, sample.appointment_lead_s, 1)
        if self._first is None or sample.joined_at < self._first:
            self._first = sample.joined_at

    def learn(self, now: datetime) -> dict[ArrivalClass, ArrivalRate]:
        """Rates per class for the hours ahead of `now`, over the joins added so far."""
        cutoff = now - ARRIVAL_WINDOW
        while self._joins and self._joins[0][0] < cutoff:
            _, hour, kind, lead_s = self._joins.popleft()
            self._count(hour, kind, lead_s, -1)
        if self._first is None:
            return {}
        # The first day counts as a whole one: a morning's joins are not a day's rate.
        days = max(1.0, min(ARRIVAL_WINDOW, now - self._first) / timedelta(days=1))
        hour = now.astimezone(self._tz).hour
        key = (hour, self._version, int(days * 24))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        rates = _rates(self._counts, self._leads, hour, days)
        self._cache = (key, rates)
        return rates

    def _count(self, hour: int, kind: _ClassKey, lead_s: float | None, step: int) -> None:
        self._version += 1
        key = (hour, kind)
        count = self._counts.get(key, 0) + step
        if count:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)
        if lead_s is not None:
            total_s, n = self._leads.get(kind, (0.0, 0))
            self._leads[kind] = (total_s + step * lead_s, n + step)


def _rates(
    counts: Mapping[tuple[int, _ClassKey], int],
    leads: Mapping[_ClassKey, tuple[float, int]],
    hour: int,
    days: float,
) -> dict[ArrivalClass, ArrivalRate]:
    ahead = {(hour + step) % 24 for step in range(HOURS_AHEAD)}
    hours_seen = {h for h, _ in counts} or {hour}
    by_class: dict[_ClassKey, tuple[int, int]] = {}
    for (h, kind), count in counts.items():
        near, every = by_class.get(kind, (0, 0))
        by_class[kind] = (near + (count if h in ahead else 0), every + count)
    rates = {}
    for kind, (near, every) in by_class.items():
        # Per hour of the day: the hours ahead's own count, shrunk towards the class's
        # mean over the hours it is seen in, by PRIOR_DAYS days' worth.
        per_hour = (near / HOURS_AHEAD + PRIOR_DAYS * every / (len(hours_seen) * days)) / (
            days + PRIOR_DAYS
        )
        total_s, n = leads.get(kind, (0.0, 0))
        rates[ArrivalClass(*kind)] = ArrivalRate(per_hour / 3600, total_s / n if n else 0.0)
    return rates


def learn_arrival_rates(
    samples: Iterable[JoinSample], now: datetime, timezone: str
) -> dict[ArrivalClass, ArrivalRate]:
    """What `ArrivalHistory.learn` gives at `now` over `samples` (those before `now`)."""
    return ArrivalHistory(timezone, (s for s in samples if s.joined_at <= now)).learn(now)
