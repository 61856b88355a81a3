"""Wait estimates with a range, from learned service times.

A counter is busy from the moment it calls a ticket until that ticket is done, so a sample
is `finished_at - called_at`. Samples come from the last 7 days; the current hour of day is
used when it has enough of them, the whole week otherwise. Outliers (a counter left open
over lunch) are dropped with Tukey's fences, and the result is shrunk towards the queue's
configured default so that a new queue starts with a sensible figure.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from core.domain.overtaking import Passing, jumped_by, overtaken

HISTORY_WINDOW = timedelta(days=7)
FORGET_MARGIN = timedelta(hours=1)
"""How far before the week a running history keeps its samples: commands of one process
may learn slightly out of the order of their clocks."""
FORGET_AT_ONCE = 1024
MIN_HOUR_SAMPLES = 8
PRIOR_WEIGHT = 5
"""Pseudo-samples the configured default counts for; it fades as real samples arrive."""
PRIOR_CV = 0.5
"""Coefficient of variation assumed before any sample is seen."""
RANGE_Z = 1.5
"""Half-width of the range in standard deviations: about 87% two-sided, the narrowest that
held the real call for at least 85% of patients in the simulator (docs/algorithm.md)."""
REORDER_RANGE_Z = 2.0
"""The same under the modes that reorder: who passes is less certain than who is ahead
(narrower, the range held the call for fewer than 85% on the lab in the simulator)."""
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


def _new_eta(eta_s: int, low_s: int, high_s: int) -> Eta:
    """An `Eta` made without its frozen `__init__` (one `object.__setattr__` per field),
    which took a third of `forecast`: it makes one per waiting ticket on every command."""
    estimate = object.__new__(Eta)
    fields = estimate.__dict__
    fields["eta_s"], fields["low_s"], fields["high_s"] = eta_s, low_s, high_s
    return estimate


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
    n = len(values)
    if n == 0:
        return configured(default_service_s)
    sample_var = exact_variance(values) if n > 1 else None
    return _shrunk(n, statistics.fmean(values), sample_var, basis, default_service_s)


def _shrunk(
    n: int, sample_mean: float, sample_var: float | None, basis: str, default_service_s: float
) -> ServiceTime:
    """Figures of `n` samples (a single one has no variance of its own: the prior's is
    taken) shrunk towards the configured time, worth `PRIOR_WEIGHT` samples."""
    prior_sd = configured(default_service_s).sd_s
    if sample_var is None:
        sample_var = prior_sd**2
    mean = (n * sample_mean + PRIOR_WEIGHT * default_service_s) / (n + PRIOR_WEIGHT)
    var = (n * sample_var + PRIOR_WEIGHT * prior_sd**2) / (n + PRIOR_WEIGHT)
    return ServiceTime(mean, math.sqrt(var), n, basis)


def _quartiles(ordered: Sequence[float]) -> tuple[float, float, float]:
    """`statistics.quantiles(ordered, n=4)` of at least two values already in order: the same
    arithmetic on the six values it interpolates between, so the same floats."""
    size = len(ordered)
    q1, median, q3 = (
        (ordered[j - 1] * (4 - delta) + ordered[j] * delta) / 4
        for i in (1, 2, 3)
        for j in [min(max(i * (size + 1) // 4, 1), size - 1)]
        for delta in [i * (size + 1) - j * 4]
    )
    return q1, median, q3


class _RunningTimes:
    """Service times kept in order, with their exact sum and sum of squares (integers over
    one power of two, as in `exact_variance`), so that `_estimate`'s figures come from the
    quartiles and the few values outside the fences rather than from a pass over all."""

    def __init__(self) -> None:
        self.samples = 0
        """Every sample, a negative duration too: they count towards an hour's basis."""
        self._ordered: list[float] = []
        self._shift = 0
        self._total = 0
        self._squares = 0

    @classmethod
    def union(cls, parts: Sequence[_RunningTimes]) -> _RunningTimes:
        """The samples of every part as one (a single part is itself)."""
        if len(parts) == 1:
            return parts[0]
        whole = cls()
        whole.samples = sum(part.samples for part in parts)
        whole._ordered = sorted(itertools.chain.from_iterable(part._ordered for part in parts))
        whole._shift = max((part._shift for part in parts), default=0)
        whole._total = sum(part._total << (whole._shift - part._shift) for part in parts)
        whole._squares = sum(part._squares << 2 * (whole._shift - part._shift) for part in parts)
        return whole

    def add(self, service_s: float) -> None:
        self.samples += 1
        if service_s >= 0:
            bisect.insort(self._ordered, service_s)
            scaled = self._scaled(service_s)
            self._total += scaled
            self._squares += scaled * scaled

    def remove(self, service_s: float) -> None:
        self.samples -= 1
        if service_s >= 0:
            del self._ordered[bisect.bisect_left(self._ordered, service_s)]
            scaled = self._scaled(service_s)
            self._total -= scaled
            self._squares -= scaled * scaled

    def estimate(self, basis: str, default_service_s: float) -> ServiceTime:
        """What `_estimate` gives for these samples."""
        values = self._ordered
        kept_from, kept_to = 0, len(values)
        if len(values) >= 4:
            q1, median, q3 = _quartiles(values)
            iqr = max(q3 - q1, MIN_IQR_SHARE * median)
            kept_from = bisect.bisect_left(values, q1 - TUKEY_K * iqr)
            kept_to = bisect.bisect_right(values, q3 + TUKEY_K * iqr)
        n = kept_to - kept_from
        if n == 0:
            return configured(default_service_s)
        total, squares = self._total, self._squares
        for outlier in itertools.chain(values[:kept_from], values[kept_to:]):
            scaled = self._scaled(outlier)
            total -= scaled
            squares -= scaled * scaled
        # Both as `fmean` and `exact_variance` give them: the exact value, rounded once.
        sample_mean = total / (1 << self._shift) / n
        sample_var = None
        if n > 1:  # integers divide to the nearest float, as a Fraction converts
            sample_var = (n * squares - total * total) / (n * (n - 1) << 2 * self._shift)
        return _shrunk(n, sample_mean, sample_var, basis, default_service_s)

    def _scaled(self, value: float) -> int:
        """`value` as an integer over 2**shift; the shift only ever grows, sums with it."""
        numerator, denominator = value.as_integer_ratio()
        places = denominator.bit_length() - 1
        if places > self._shift:
            self._total <<= places - self._shift
            self._squares <<= 2 * (places - self._shift)
            self._shift = places
        return numerator << (self._shift - places)


class ServiceHistory:
    """The samples of the last `HISTORY_WINDOW`, each filed by kind of visit and local hour
    of day with the running figures of its file (`_RunningTimes`), so that learning reads a
    few values of the files it uses: the same figures as `learn_service_times` over every
    sample added, at a cost that grows neither with the run nor with the number of samples.

    Samples may come in any order and may finish after the `now` of a later `learn` (a
    history to start from that reaches past it, a visit another process ended a moment
    later); `learn` may step back in time by less than `FORGET_MARGIN`. Each `learn` counts
    in the figures the samples that enter its window and takes out those that leave it."""

    def __init__(self, timezone: str, earlier: Iterable[ServiceSample] = ()) -> None:
        self._tz = ZoneInfo(timezone)
        self._files: dict[str | None, dict[int, _RunningTimes]] = {}
        """The running figures of the samples in the window, by kind of visit and local hour."""
        self._ends: list[datetime] = []
        """Every sample's end, in order..."""
        self._samples: list[tuple[_RunningTimes, float]] = []
        """...and, in the same order, its file and service time."""
        self._window: tuple[datetime, datetime] | None = None
        """The last `learn`'s [now - HISTORY_WINDOW, now]: `_samples[_start:_end]` are the
        ones counted in the files' figures."""
        self._start = self._end = 0
        self._earlier = deque(sorted(earlier, key=lambda s: s.finished_at))
        """The history to start from, in order, filed as `learn` reaches it..."""
        self._later: list[tuple[datetime, int, ServiceSample]] = []
        """...and a heap of the samples added that end after the window: so that a history
        reaching far ahead does not lengthen every insertion."""
        self._arrivals = itertools.count()
        """Orders samples of the same end in the heap (samples themselves have no order)."""

    def add(self, sample: ServiceSample) -> None:
        at = sample.finished_at
        if self._window is None or at > self._window[1]:
            heapq.heappush(self._later, (at, next(self._arrivals), sample))
            return
        file = self._file(sample)
        if at < self._window[0]:
            self._start += 1
        else:
            file.add(sample.service_s)
        self._end += 1

    def learn(
        self, now: datetime, default_service_s: float, service_times_s: Mapping[str, int]
    ) -> tuple[ServiceTime, dict[str, ServiceTime]]:
        """What `learn_service_times` gives at `now` for every sample added so far."""
        cutoff = now - HISTORY_WINDOW
        # All end after the window (else they would have been filed): the indices hold.
        while self._earlier and self._earlier[0].finished_at <= now:
            self._file(self._earlier.popleft())
        while self._later and self._later[0][0] <= now:
            self._file(heapq.heappop(self._later)[2])
        self._move_window(cutoff, now)
        self._forget(cutoff - FORGET_MARGIN)
        hour = now.astimezone(self._tz).hour
        every_kind = [t for by_hour in self._files.values() for t in by_hour.items()]
        overall = _learned(every_kind, hour, default_service_s)
        by_kind = {
            kind: _learned(self._files.get(kind, {}).items(), hour, own_s)
            for kind, own_s in service_times_s.items()
        }
        return overall, by_kind

    def _file(self, sample: ServiceSample) -> _RunningTimes:
        """Into the list of samples in order (after any of the same end); returns its file."""
        at = sample.finished_at
        hour = at.astimezone(self._tz).hour
        by_hour = self._files.setdefault(sample.service, {})
        file = by_hour.get(hour)
        if file is None:  # made only when new: most samples go to a file that exists
            file = by_hour[hour] = _RunningTimes()
        index = bisect.bisect_right(self._ends, at)
        self._ends.insert(index, at)
        self._samples.insert(index, (file, sample.service_s))
        return file

    def _move_window(self, cutoff: datetime, now: datetime) -> None:
        """Takes the samples that leave the window out of their files' figures, and counts
        those that enter it."""
        start = bisect.bisect_left(self._ends, cutoff)
        end = bisect.bisect_right(self._ends, now)
        samples = self._samples
        for index in itertools.chain(
            range(self._start, min(self._end, start)), range(max(self._start, end), self._end)
        ):
            file, service_s = samples[index]
            file.remove(service_s)
        for index in itertools.chain(
            range(start, min(end, self._start)), range(max(start, self._end), end)
        ):
            file, service_s = samples[index]
            file.add(service_s)
        self._window, self._start, self._end = (cutoff, now), start, end

    def _forget(self, before: datetime) -> None:
        """Drops the samples that ended before `before` (out of every window from now on),
        once they are many: each drop moves the whole list."""
        gone = bisect.bisect_left(self._ends, before)
        if gone < max(FORGET_AT_ONCE, len(self._ends) // 2):
            return
        del self._ends[:gone], self._samples[:gone]
        self._start -= gone
        self._end -= gone


def _learned(
    files: Iterable[tuple[int, _RunningTimes]], hour: int, default_service_s: float
) -> ServiceTime:
    """From the samples of the files (by local hour) of `hour` when there are enough of
    them, else from every file's."""
    files = list(files)
    same_hour = [times for h, times in files if h == hour]
    if sum(times.samples for times in same_hour) >= MIN_HOUR_SAMPLES:
        return _RunningTimes.union(same_hour).estimate("hour", default_service_s)
    return _RunningTimes.union([times for _, times in files]).estimate("week", default_service_s)


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


def _lognormal(service: ServiceTime) -> tuple[float, float] | None:
    """(mu, sigma) of the lognormal with the service's mean and spread; None when it has
    no spread to speak of."""
    mean, sd = service.mean_s, service.sd_s
    if mean <= 0 or sd < 1e-6 * mean:
        return None
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def residual_s(service: ServiceTime, elapsed_s: float) -> float:
    """Expected time left of a service that has lasted `elapsed_s` so far.

    Service times are taken as lognormal with the learned mean and spread, so a visit that
    has already run long is expected to run on a while yet: E[S - a | S > a].
    """
    mean, sd = service.mean_s, service.sd_s
    if elapsed_s <= 0:
        return mean
    shape = _lognormal(service)
    if shape is None:  # what is left is left
        return max(0.0, mean - elapsed_s)
    mu, sigma = shape
    z = (math.log(elapsed_s) - mu) / sigma
    surviving = _normal_cdf(-z)
    if surviving < 1e-12:  # far beyond any sample: at least one more spread's worth
        return sd
    return max(0.0, mean * _normal_cdf(sigma - z) / surviving - elapsed_s)


def _still_running(at_counter: AtCounter) -> tuple[Callable[[float], float], list[float]]:
    """P(the visit at the counter is still running `t` seconds from now), under the same
    lognormal as `residual_s`; and the moments from now that cut the chance of when it ends
    into slices (`END_SLICES`), where the integral of `_first_ends_s` looks. A visit with
    no spread, or long past any sample, ends when `residual_s` says: one moment."""
    service, elapsed_s = at_counter.service, at_counter.elapsed_s
    shape = _lognormal(service)
    if shape is not None:
        mu, sigma = shape
        # Upper tails throughout: 1 - P(ended) loses every digit far out.
        lasted = 1.0 if elapsed_s <= 0 else _normal_cdf((mu - math.log(elapsed_s)) / sigma)
        if lasted >= 1e-12:
            cuts_s = [
                math.exp(mu - sigma * _STANDARD.inv_cdf((1 - q) * lasted)) - elapsed_s
                for q in END_SLICES
            ]
            return (lambda t: _normal_cdf((mu - math.log(elapsed_s + t)) / sigma) / lasted), cuts_s
    left_s = residual_s(service, elapsed_s)
    return (lambda t: 1.0 if t < left_s else 0.0), [left_s]


@dataclass(frozen=True)
class AtCounter:
    """A visit in progress at an open counter: what it is expected to take, and how long
    it has taken so far."""

    service: ServiceTime
    elapsed_s: float


def forecast(
    line: Sequence[ServiceTime],
    at_counters: Sequence[AtCounter],
    open_counters: int,
    load: float,
    passed_by: Sequence[Passing] | None = None,
    counters_when_closed: int = 1,
) -> list[Eta]:
    """The wait of each ticket in the line (in serving order) until it is called.

    Each open counter frees up when its current visit is expected to end (a long-running
    visit is expected to run on); the line is then handed out in order, each ticket going
    to the counter that frees up first and keeping it for its own expected service time.
    The range follows the spread of the visits that must end first (the ones at the
    counters, then the line ahead), pooled over the counters; its upper end is widened by
    the load factor.

    With no counter open, `counters_when_closed` counters (the queue's) are expected back,
    each as if busy for one more visit.

    Under the modes that reorder, `passed_by` (one per ticket, `overtaking.passed_by`) says
    who is expected to arrive and be put ahead of each ticket, and for how long: the wait
    grows by their expected work (`overtaking.overtaken`) and the range by its spread;
    in `short_first` a ticket behind that becomes due first goes ahead too
    (`overtaking.jumped_by`).
    """
    counters = max(1, open_counters)
    busy = at_counters[:counters]
    if open_counters < 1 and line:
        # Nobody can be called before a counter opens: a break's counters come back
        # together, each as if busy for a visit yet.
        counters = max(1, counters_when_closed)
        busy = [AtCounter(line[0], 0.0)] * counters
    if len(busy) > 1:
        free_at = list(_first_ends_s(tuple(busy), min(len(busy), len(line))))
    else:  # one visit ends when it ends: nothing to work out (nor to keep)
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
    # Once per ticket of the line, for every command: comparisons rather than max and min.
    ahead = len(busy) + 1 - counters
    starts_s = _plain_starts(line, free_at)
    passed = None if passed_by is None else _passed(line, starts_s, counters, passed_by)
    for index, start_s in enumerate(starts_s):
        if start_s <= 0:
            etas.append(_new_eta(floor_low_s, floor_low_s, floor_high_s))
            continue
        must_end = ahead + index if ahead + index > 1 else 1
        point_s = start_s
        if passed is None:
            half_width_s = RANGE_Z * math.sqrt(spread[must_end]) / counters
        else:
            start_s, passing_variance, point_s = passed[index]
            half_width_s = REORDER_RANGE_Z * math.sqrt(
                spread[must_end] / counters**2 + passing_variance
            )
        low_s = math.floor(start_s - half_width_s) if start_s > half_width_s else 0
        high_s = math.ceil((start_s + half_width_s) * load)
        if passed is None:
            low_s = low_s if low_s > floor_low_s else floor_low_s
            high_s = high_s if high_s > floor_high_s else floor_high_s
            floor_low_s, floor_high_s = low_s, high_s
        # else: a ticket behind may be expected sooner (it becomes due, or its appointment
        # does, and goes ahead): a floor from the ones ahead would only be wrong.
        eta_s = round(point_s)
        eta_s = eta_s if eta_s > low_s else low_s
        eta_s = eta_s if eta_s < high_s else high_s
        etas.append(_new_eta(eta_s, low_s, high_s))
    return etas


END_SLICES = (0.002, 0.01, 0.02, *((i + 0.5) / 16 for i in range(16)), 0.99, 0.999, 0.9999)
"""Where the chance of a visit's end is cut for the integral of `_first_ends_s`: sixteen
even slices, and both tails (the first of many visits to end lies in their lower one)."""
_STANDARD = statistics.NormalDist()
MAX_ORDERED_COUNTERS = 12
"""The busy counters expected to free up first that are taken in turn; any more free up as
their own visits say. The integral costs counters x tickets per step, and a queue with more
counters than this is rare."""


@functools.lru_cache(maxsize=64)
def _first_ends_s(busy: tuple[AtCounter, ...], needed: int) -> tuple[float, ...]:
    """When the busy counters are expected to free up: the first, the second, ... (one per
    counter, soonest first), worked out for the first `needed` (the line reaches no
    further). Kept for the next call: a command forecasts its line more than once, with
    the same counters at the same moment.

    Not each counter's own expected end, sorted: the first of several visits to end is
    expected well before the soonest expected end of any one of them (the minimum of
    uncertain times is below the minimum of their means), and handing the line out at the
    expected ends told the first patients of a busy queue longer waits than they had. The
    k-th end is the integral over t of P(fewer than k visits ended by t), each visit still
    running with the chance `_still_running` gives, by the midpoint rule over steps cut
    where each visit's chance of ending is (a line of certain visits comes out exact)."""
    by_end = sorted(
        ((residual_s(b.service, b.elapsed_s), index) for index, b in enumerate(busy)),
    )
    residuals_s = [residual for residual, _ in by_end]
    if len(busy) < 2 or needed == 0:
        return tuple(residuals_s)
    taken = [busy[index] for _, index in by_end[:MAX_ORDERED_COUNTERS]]
    needed = min(needed, len(taken))
    running, cuts_s = zip(*(_still_running(b) for b in taken), strict=True)
    # By then `needed` visits have ended, all but surely: P(fewer ended) is 0 from there.
    horizon_s = sorted(max(cuts) for cuts in cuts_s)[needed - 1]
    steps = sorted({0.0, *(t for cuts in cuts_s for t in cuts if t <= horizon_s)})
    ends_s = [0.0] * needed
    for t0, t1 in itertools.pairwise(steps):
        t = (t0 + t1) / 2
        ended = [1.0] + [0.0] * (needed - 1)  # P(exactly j ended by t), j < needed
        for still in running:
            on = still(t)
            off = 1.0 - on
            ended = [
                ended[0] * on,
                *[a * on + b * off for a, b in zip(ended[1:], ended[:-1], strict=True)],
            ]
        for k, fewer in enumerate(itertools.accumulate(ended)):
            ends_s[k] += fewer * (t1 - t0)  # P(fewer than k + 1 ended by t)
    # The counters the line does not reach free up as their own visits say, not sooner
    # than the ones before them.
    return (*ends_s, *(max(ends_s[-1], r) for r in residuals_s[needed:]))


def _plain_starts(line: Sequence[ServiceTime], free_at: list[float]) -> list[float]:
    """When each ticket of the line would be called if nobody passed anybody: the line
    handed out in order, each ticket to the counter that frees up first (`free_at`, a heap
    of when each does, is used up), keeping it for its expected service time."""
    starts_s = []
    for service in line:
        start_s = free_at[0]
        heapq.heapreplace(free_at, start_s + service.mean_s)
        starts_s.append(start_s)
    return starts_s


def _passed(
    line: Sequence[ServiceTime],
    starts_s: Sequence[float],
    counters: int,
    passed_by: Sequence[Passing],
) -> list[tuple[float, float, float]]:
    """Each ticket's expected wait, the variance added and the wait told (the median) once
    the ones expected to pass it have: the plain start (`_plain_starts`), then the later
    arrivals (`overtaken`), then the tickets behind that become due first (`jumped_by`)."""
    points: list[float] = []
    waits: list[tuple[float, float]] = []
    block_starts_s, priority = 0.0, None
    for index, start_s in enumerate(starts_s):
        passers, window_start_s, _, own_priority = passed_by[index]
        if own_priority != priority:
            block_starts_s, priority = start_s, own_priority
        wait_s, variance, point_s = overtaken(start_s, passers, window_start_s)
        # Becoming due goes ahead of the ones of its own priority only: not before the
        # higher priorities ahead of it now have been called.
        waits.append((max(wait_s, block_starts_s), variance))
        points.append(max(point_s, block_starts_s))
    extra = jumped_by([w for w, _ in waits], line, counters, passed_by)
    passed = []
    for index, ((wait_s, variance), point_s) in enumerate(zip(waits, points, strict=True)):
        if extra is not None and wait_s > 0:
            passers, _, due_in_s, _ = passed_by[index]
            # A ticket that becomes due itself is reached soon after, whoever went ahead.
            reached_s = due_in_s + (passers.reached_after_s or 0.0)
            jumped_s = min(wait_s + extra[index], max(wait_s, reached_s))
            point_s = min(point_s + extra[index], max(point_s, reached_s))
            wait_s = jumped_s
        passed.append((wait_s, variance, point_s))
    return passed


def naive_eta_s(position: int, open_counters: int, mean_s: float) -> float:
    """The textbook estimate, position x mean service time / counters: the baseline the
    simulator measures `forecast` against."""
    return position * mean_s / max(1, open_counters)
