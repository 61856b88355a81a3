"""Wait estimates with a range, from learned service times.

A counter is busy from the moment it calls a ticket until that ticket is done, so a sample
is `finished_at - called_at`. Samples come from the last 7 days; the current hour of day is
used when it has enough of them, the whole week otherwise. Outliers (a counter left open
over lunch) are dropped with Tukey's fences, and the result is shrunk towards the queue's
configured default so that a new queue starts with a sensible figure.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

HISTORY_WINDOW = timedelta(days=7)
MIN_HOUR_SAMPLES = 8
PRIOR_WEIGHT = 5
"""Pseudo-samples the configured default counts for; it fades as real samples arrive."""
PRIOR_CV = 0.5
"""Coefficient of variation assumed before any sample is seen."""
RANGE_Z = 1.5
"""Half-width of the range in standard deviations: about 87% two-sided, the narrowest that
held the real call for at least 85% of patients in the simulator (docs/algorithm.md)."""
TUKEY_K = 3.0
MIN_IQR_SHARE = 0.25


@dataclass(frozen=True)
class ServiceSample:
    finished_at: datetime
    service_s: float
    service: str | None = None
    """The kind of visit, when the ticket had one."""


@dataclass(frozen=True)
class ServiceTime:
    mean_s: float
    sd_s: float
    samples: int
    basis: str
    """`hour`, `week` or `default`: which history the estimate stands on."""


@dataclass(frozen=True)
class Eta:
    eta_s: int
    low_s: int
    high_s: int


def _without_outliers(values: list[float]) -> list[float]:
    if len(values) < 4:
        return values
    q1, median, q3 = statistics.quantiles(values, n=4)
    # Many identical samples would give a zero IQR and call every other value an outlier.
    iqr = max(q3 - q1, MIN_IQR_SHARE * median)
    low, high = q1 - TUKEY_K * iqr, q3 + TUKEY_K * iqr
    return [v for v in values if low <= v <= high]


def configured(service_s: float) -> ServiceTime:
    """A configured service time, before any sample: its spread is assumed (`PRIOR_CV`)."""
    return ServiceTime(float(service_s), PRIOR_CV * service_s, 0, "default")


def exact_variance(values: Sequence[float]) -> float:
    """The sample variance, exactly as `statistics.variance` gives it (the exact rational,
    rounded once), but summed as integers over one power-of-two denominator rather than as
    a Fraction per value: learning calls it for every relearn of every queue."""
    ratios = [v.as_integer_ratio() for v in values]
    shift = max(d.bit_length() for _, d in ratios) - 1  # a float's denominator is 2**k
    scaled = [n << (shift - d.bit_length() + 1) for n, d in ratios]
    count = len(scaled)
    total = sum(scaled)
    squares = sum(x * x for x in scaled)
    return float(Fraction(count * squares - total * total, count * (count - 1) << (2 * shift)))


def learn_service_time(
    samples: Sequence[ServiceSample], now: datetime, timezone: str, default_service_s: float
) -> ServiceTime:
    """Robust mean and spread of recent service times, for the current hour of day."""
    tz = ZoneInfo(timezone)
    recent = [s for s in samples if now - HISTORY_WINDOW <= s.finished_at <= now]
    hour = now.astimezone(tz).hour
    same_hour = [s for s in recent if s.finished_at.astimezone(tz).hour == hour]
    chosen, basis = (same_hour, "hour") if len(same_hour) >= MIN_HOUR_SAMPLES else (recent, "week")
    return _estimate(chosen, basis, default_service_s)


def _estimate(chosen: Iterable[ServiceSample], basis: str, default_service_s: float) -> ServiceTime:
    """The samples' robust mean and spread, shrunk towards the configured time. Exact sums
    (`fmean`, `variance`) make it independent of the samples' order."""
    values = _without_outliers([s.service_s for s in chosen if s.service_s >= 0])
    prior = configured(default_service_s)
    prior_sd = prior.sd_s
    n = len(values)
    if n == 0:
        return prior
    sample_mean = statistics.fmean(values)
    sample_var = exact_variance(values) if n > 1 else prior_sd**2
    mean = (n * sample_mean + PRIOR_WEIGHT * default_service_s) / (n + PRIOR_WEIGHT)
    var = (n * sample_var + PRIOR_WEIGHT * prior_sd**2) / (n + PRIOR_WEIGHT)
    return ServiceTime(mean, math.sqrt(var), n, basis)


FORGET_MARGIN = timedelta(hours=1)
"""How far before the week a running history keeps its samples: commands of one process
may learn slightly out of the order of their clocks."""


class ServiceHistory:
    """The samples of the last `HISTORY_WINDOW`, filed by kind of visit and local hour of
    day as they come, so that learning reads only the samples it uses: the same figures as
    `learn_service_times` over every sample added, at a cost that does not grow with the run.

    Samples may come in any order and may finish after the `now` of a later `learn` (a
    history to start from that reaches past it, a visit another process ended a moment
    later). `learn` may step back in time by less than `FORGET_MARGIN`. Its figures are kept
    until a sample is added, the local hour changes, the configured times change or a
    sample enters or leaves the window."""

    def __init__(self, timezone: str, earlier: Iterable[ServiceSample] = ()) -> None:
        self._tz = ZoneInfo(timezone)
        self._finished: list[datetime] = []
        """Every sample's end, in order: where the window's edges fall."""
        self._filed: dict[tuple[str | None, int], list[ServiceSample]] = {}
        """Each in the order the samples finished."""
        self._forgotten_until: datetime | None = None
        self._learned: _Learned | None = None
        for sample in earlier:
            self.add(sample)

    def add(self, sample: ServiceSample) -> None:
        bisect.insort(self._finished, sample.finished_at)
        key = (sample.service, sample.finished_at.astimezone(self._tz).hour)
        bisect.insort(self._filed.setdefault(key, []), sample, key=_finished_at)
        self._learned = None

    def learn(
        self, now: datetime, default_service_s: float, service_times_s: Mapping[str, int]
    ) -> tuple[ServiceTime, dict[str, ServiceTime]]:
        """What `learn_service_times` gives at `now` for every sample added so far."""
        hour = now.astimezone(self._tz).hour
        asked = (hour, default_service_s, tuple(service_times_s.items()))
        learned = self._learned
        if learned is None or learned.asked != asked or not learned.window.holds(now):
            learned = self._learned = _Learned(
                asked, self._window(now), self._learn_all(now, hour, asked)
            )
        overall, by_kind = learned.figures
        return overall, dict(by_kind)

    def _learn_all(
        self, now: datetime, hour: int, asked: tuple[int, float, tuple[tuple[str, int], ...]]
    ) -> tuple[ServiceTime, dict[str, ServiceTime]]:
        _, default_service_s, service_times_s = asked
        cutoff = now - HISTORY_WINDOW
        self._forget(cutoff - FORGET_MARGIN)
        recent = {
            key: filed[
                bisect.bisect_left(filed, cutoff, key=_finished_at) : bisect.bisect_right(
                    filed, now, key=_finished_at
                )
            ]
            for key, filed in self._filed.items()
        }
        overall = _learn_filed(recent, None, hour, default_service_s)
        by_kind = {
            kind: _learn_filed(recent, kind, hour, configured_s)
            for kind, configured_s in service_times_s
        }
        return overall, by_kind

    def _window(self, now: datetime) -> _Window:
        """The samples `now` sees, as the four ends that keep them the same ones."""
        finished = self._finished
        first = bisect.bisect_left(finished, now - HISTORY_WINDOW)
        end = bisect.bisect_right(finished, now)
        return _Window(
            finished[first - 1] if first else self._forgotten_until,
            finished[first] if first < len(finished) else None,
            finished[end - 1] if end else None,
            finished[end] if end < len(finished) else None,
        )

    def _forget(self, before: datetime) -> None:
        gone = bisect.bisect_left(self._finished, before)
        if not gone:
            return
        self._forgotten_until = self._finished[gone - 1]
        del self._finished[:gone]
        for filed in self._filed.values():
            del filed[: bisect.bisect_left(filed, before, key=_finished_at)]


def _finished_at(sample: ServiceSample) -> datetime:
    return sample.finished_at


def _learn_filed(
    recent: Mapping[tuple[str | None, int], list[ServiceSample]],
    only: str | None,
    hour: int,
    default_service_s: float,
) -> ServiceTime:
    """From the samples of one kind of visit, or of every kind (`only` None)."""
    mine = [(h, filed) for (kind, h), filed in recent.items() if only in (None, kind)]
    same_hour = [s for h, filed in mine if h == hour for s in filed]
    if len(same_hour) >= MIN_HOUR_SAMPLES:
        return _estimate(same_hour, "hour", default_service_s)
    week = itertools.chain.from_iterable(filed for _, filed in mine)
    return _estimate(week, "week", default_service_s)


@dataclass(frozen=True)
class _Window:
    """The ends of the samples a `now` sees (those in [now - HISTORY_WINDOW, now]): the
    last one too old, the oldest and newest seen, and the first one still to come."""

    too_old: datetime | None
    oldest: datetime | None
    newest: datetime | None
    to_come: datetime | None

    def holds(self, now: datetime) -> bool:
        """Whether `now` sees exactly the same samples."""
        cutoff = now - HISTORY_WINDOW
        return (
            (self.too_old is None or self.too_old < cutoff)
            and (self.oldest is None or cutoff <= self.oldest)
            and (self.newest is None or self.newest <= now)
            and (self.to_come is None or now < self.to_come)
        )


@dataclass(frozen=True)
class _Learned:
    asked: tuple[int, float, tuple[tuple[str, int], ...]]
    """The local hour and the configured times the figures were learned for."""
    window: _Window
    figures: tuple[ServiceTime, dict[str, ServiceTime]]


def learn_service_times(
    samples: Sequence[ServiceSample],
    now: datetime,
    timezone: str,
    default_service_s: float,
    service_times_s: Mapping[str, int],
) -> tuple[ServiceTime, dict[str, ServiceTime]]:
    """The learned service time over every visit, and per kind of visit the queue offers
    (each shrunk towards its own configured time)."""
    overall = learn_service_time(samples, now, timezone, default_service_s)
    by_kind = {
        kind: learn_service_time(
            [s for s in samples if s.service == kind], now, timezone, configured_s
        )
        for kind, configured_s in service_times_s.items()
    }
    return overall, by_kind


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def residual_s(service: ServiceTime, elapsed_s: float) -> float:
    """Expected time left of a service that has lasted `elapsed_s` so far.

    Service times are taken as lognormal with the learned mean and spread, so a visit that
    has already run long is expected to run on a while yet: E[S - a | S > a].
    """
    mean, sd = service.mean_s, service.sd_s
    if elapsed_s <= 0:
        return mean
    if mean <= 0 or sd < 1e-6 * mean:  # no spread to speak of: what is left is left
        return max(0.0, mean - elapsed_s)
    sigma2 = math.log1p((sd / mean) ** 2)
    sigma, mu = math.sqrt(sigma2), math.log(mean) - sigma2 / 2
    z = (math.log(elapsed_s) - mu) / sigma
    surviving = _normal_cdf(-z)
    if surviving < 1e-12:  # far beyond any sample: at least one more spread's worth
        return sd
    return max(0.0, mean * _normal_cdf(sigma - z) / surviving - elapsed_s)


@dataclass(frozen=True)
class AtCounter:
    """A visit in progress at an open counter: what it is expected to take, and how long
    it has taken so far."""

    service: ServiceTime
    elapsed_s: float


def forecast(
    line: Sequence[ServiceTime], at_counters: Sequence[AtCounter], open_counters: int, load: float
) -> list[Eta]:
    """The wait of each ticket in the line (in serving order) until it is called.

    Each open counter frees up when its current visit is expected to end (a long-running
    visit is expected to run on); the line is then handed out in order, each ticket going
    to the counter that frees up first and keeping it for its own expected service time.
    The range follows the spread of the visits that must end first (the ones at the
    counters, then the line ahead), pooled over the counters; its upper end is widened by
    the load factor.
    """
    counters = max(1, open_counters)
    busy = at_counters[:counters]
    if open_counters < 1 and line:
        # Nobody can be called before a counter opens: count on one, busy for a visit yet.
        busy = [AtCounter(line[0], 0.0)]
    free_at = [residual_s(b.service, b.elapsed_s) for b in busy]
    free_at += [0.0] * (counters - len(free_at))
    heapq.heapify(free_at)
    # Variances of the visits in the order they end: ticket i waits for the first
    # `len(busy) + i + 1 - counters` of them.
    ending = [b.service.sd_s**2 for b in busy] + [s.sd_s**2 for s in line]
    spread = list(itertools.accumulate(ending, initial=0.0))
    etas = []
    # The range widens along the line faster than the expected start grows, so its lower end
    # alone could fall ("1-2 min" for the first, "0-8 min" for the second): nobody behind is
    # expected to be called sooner than somebody ahead, so neither end ever falls.
    floor_low_s = floor_high_s = 0
    for index, service in enumerate(line):
        start_s = heapq.heappop(free_at)
        heapq.heappush(free_at, start_s + service.mean_s)
        if start_s <= 0:
            etas.append(Eta(floor_low_s, floor_low_s, floor_high_s))
            continue
        must_end = max(1, len(busy) + index + 1 - counters)
        half_width_s = RANGE_Z * math.sqrt(spread[must_end]) / counters
        low_s = max(floor_low_s, math.floor(max(0.0, start_s - half_width_s)))
        high_s = max(floor_high_s, math.ceil((start_s + half_width_s) * load))
        eta_s = min(max(round(start_s), low_s), high_s)
        etas.append(Eta(eta_s, low_s, high_s))
        floor_low_s, floor_high_s = low_s, high_s
    return etas


def naive_eta_s(position: int, open_counters: int, mean_s: float) -> float:
    """The textbook estimate, position x mean service time / counters: the baseline the
    simulator measures `forecast` against."""
    return position * mean_s / max(1, open_counters)
