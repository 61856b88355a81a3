"""The next two hours of a queue: for each 15-minute slot, the expected length of the line
and the p90 wait of a patient joining in it, with the counters open now and with one more.

Method (docs/algorithm.md, "The next two hours"): a few dozen simulated futures. Each one
draws the visits of the line and of the patients at the counters (what is left of them:
a visit that has run long is expected to run on), and Poisson arrivals at the learned rate
of each hour of the day, only while the queue's hours have it open. The futures are served
first come, first served by the open counters, then the same draws again by one counter
more (common random numbers: the difference between the two is the counter's, not the
dice's). Patients "probing" the line at three moments of each slot give the line's length
and the wait of a newcomer there, whom nobody after them delays.

The mean line of a queue with room to spare is not zero, and a fluid model (work in minus
work out) says it is; the futures keep the randomness that makes it so. A reordering mode
moves who waits, not how much work there is (docs/algorithm.md), so the futures serve in
order of arrival.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.domain.eta import AtCounter, ServiceTime
from core.domain.hours import Schedule
from core.domain.metrics import percentile
from core.domain.model import OnClose
from core.domain.queue import Queue

SLOT_S = 900
SLOTS = 8
"""Eight quarters of an hour: the next two hours."""
HORIZON_S = SLOT_S * SLOTS
PROBES_PER_SLOT = 3
"""Moments of each slot where the line is looked at: the middles of its thirds."""
FUTURES = 64
"""Simulated futures per forecast, chosen by measurement (docs/algorithm.md): their p90
waits are within about two minutes of 3,000 futures', at about 16 ms for a line of 100."""
QUANTILE = 0.9
MIN_MIX = 8
"""The fewest visits newcomers' are drawn from (`present_of`)."""
LEARN_DAYS = 7
"""Arrival rates are learned over the hourly rows of this many days."""
_STANDARD_NORMAL = statistics.NormalDist()


@dataclass(frozen=True)
class HourlyArrivals:
    """Expected arrivals per hour, by local hour of day (index 0 is 00:00-01:00)."""

    per_hour: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.per_hour) != 24 or any(r < 0 for r in self.per_hour):
            raise ValueError("arrival rates: 24 figures, none below zero")


NO_ARRIVALS = HourlyArrivals((0.0,) * 24)


def learn_hourly_arrivals(
    joined_by_hour: Iterable[tuple[datetime, int]], now: datetime, schedule: Schedule
) -> HourlyArrivals:
    """Arrivals per local hour of day from hourly rows (UTC hour start, tickets joined):
    over the `LEARN_DAYS` of whole hours before the one `now` is in (its row is not full
    yet), each local hour's joins over the days that hour was open, so that a queue closed
    on Sundays is not taken for a quieter one on weekdays."""
    until = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    since = until - timedelta(days=LEARN_DAYS)
    joined = [0] * 24
    for hour_start, count in joined_by_hour:
        if since <= hour_start < until:
            joined[hour_start.astimezone(schedule.zone).hour] += count
    open_days = [0] * 24
    hour = since
    while hour < until:
        if schedule.is_open(hour + timedelta(minutes=30)):
            open_days[hour.astimezone(schedule.zone).hour] += 1
        hour += timedelta(hours=1)
    return HourlyArrivals(
        tuple(j / d if d else 0.0 for j, d in zip(joined, open_days, strict=True))
    )


@dataclass(frozen=True)
class Present:
    """The queue as it stands: the line in serving order (each visit's expected length),
    the visits at the open counters, how many counters are open, and the visits a
    newcomer's is drawn from, each as likely (`newcomer_mix`)."""

    line: Sequence[ServiceTime]
    at_counters: Sequence[AtCounter]
    open_counters: int
    newcomer_mix: Sequence[ServiceTime]
    close_remaining: bool = False
    """The queue closes the line at closing time (`OnClose.CLOSE_REMAINING`)."""


@dataclass(frozen=True)
class HorizonSlot:
    start: datetime
    end: datetime
    open: bool
    """Patients may join during some of the slot (its hours)."""
    line_length: float
    """Expected patients waiting, over the slot, with the counters open now."""
    p90_wait_s: int | None
    """Nine in ten patients joining in the slot are called within this; None when nobody
    can join (closed) or no counter is open."""
    line_length_plus_one: float
    p90_wait_s_plus_one: int | None


@dataclass(frozen=True)
class Horizon:
    generated_at: datetime
    open_counters: int
    slots: tuple[HorizonSlot, ...]

    def worst_p90_within(self, within_s: int) -> tuple[int | None, int | None]:
        """The largest p90 wait of the slots starting within `within_s` from now, with the
        counters open now and with one more (None: no such slot is open)."""
        near = [s for s in self.slots if (s.start - self.generated_at).total_seconds() < within_s]
        now = [s.p90_wait_s for s in near if s.p90_wait_s is not None]
        more = [s.p90_wait_s_plus_one for s in near if s.p90_wait_s_plus_one is not None]
        return max(now, default=None), max(more, default=None)


def _lognormal(service: ServiceTime) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with the service's mean and spread."""
    mean = max(service.mean_s, 1e-6)
    sigma2 = math.log1p((service.sd_s / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def _draw(rng: random.Random, lognormal: tuple[float, float]) -> float:
    mu, sigma = lognormal
    return math.exp(mu + sigma * rng.gauss())


def _draw_residual(rng: random.Random, visit: AtCounter) -> float:
    """What is left of a visit that has lasted `elapsed_s`: a draw of the lognormal given
    that it has lasted that long."""
    mu, sigma = _lognormal(visit.service)
    if visit.elapsed_s <= 0 or sigma == 0:
        return max(0.0, math.exp(mu + sigma * rng.gauss()) - max(0.0, visit.elapsed_s))
    lasted = _STANDARD_NORMAL.cdf((math.log(visit.elapsed_s) - mu) / sigma)
    if lasted > 1 - 1e-9:  # far beyond any sample: another spread's worth
        return visit.service.sd_s
    u = lasted + (1 - lasted) * rng.random()
    drawn = math.exp(mu + sigma * _STANDARD_NORMAL.inv_cdf(min(u, 1 - 1e-12)))
    return max(0.0, drawn - visit.elapsed_s)


@dataclass(frozen=True)
class _Segment:
    """A stretch of the horizon (seconds from now) open to arrivals at one rate."""

    start_s: float
    end_s: float
    per_s: float


def open_spans(schedule: Schedule, now: datetime, horizon_s: float) -> list[tuple[float, float]]:
    """The stretches of [now, now + horizon_s) the queue is open, in seconds from now."""
    end = now + timedelta(seconds=horizon_s)
    if schedule.always_open():
        return [(0.0, horizon_s)]
    spans, at = [], now
    while at < end:
        if schedule.is_open(at):
            closes = min(schedule.closes_at(at) or end, end)
            spans.append(((at - now).total_seconds(), (closes - now).total_seconds()))
            at = closes
        else:
            at = schedule.opens_at(at) or end
    return spans


def _segments(
    spans: Sequence[tuple[float, float]], rates: HourlyArrivals, schedule: Schedule, now: datetime
) -> list[_Segment]:
    """The open stretches cut at local hour boundaries, each with its hour's rate."""
    segments = []
    for start_s, end_s in spans:
        at_s = start_s
        while at_s < end_s:
            local = (now + timedelta(seconds=at_s)).astimezone(schedule.zone)
            into_hour_s = local.minute * 60 + local.second + local.microsecond / 1e6
            until_s = min(end_s, at_s + 3600 - into_hour_s)
            segments.append(_Segment(at_s, until_s, rates.per_hour[local.hour] / 3600))
            at_s = until_s
    return segments


def _draw_arrivals(rng: random.Random, segments: Sequence[_Segment]) -> list[float]:
    arrivals = []
    for segment in segments:
        if segment.per_s <= 0:
            continue
        at_s = segment.start_s + rng.expovariate(segment.per_s)
        while at_s < segment.end_s:
            arrivals.append(at_s)
            at_s += rng.expovariate(segment.per_s)
    return arrivals


@dataclass
class _Future:
    """One draw: the residuals of the visits at the counters, and everyone who will wait
    (the line, then the newcomers) with when they joined and what their visit takes."""

    residuals_s: list[float]
    joined_s: list[float]
    service_s: list[float]


@dataclass
class _Served:
    """One future served by some counters: per probe, the line's length and a newcomer's
    wait (None when nobody can be called)."""

    lengths: list[int]
    waits_s: list[float | None]


def _serve(
    future: _Future,
    counters: int,
    probes_s: Sequence[float],
    closings_s: Sequence[float],
) -> _Served:
    """First come, first served by `counters`; a patient not called by the closing that
    follows their join leaves the line then (`closings_s`, when the queue closes it)."""
    if counters < 1:
        lengths = [bisect.bisect_right(future.joined_s, p) for p in probes_s]
        return _Served(lengths, [None] * len(probes_s))
    free_at = sorted(future.residuals_s[:counters]) + [0.0] * max(
        0, counters - len(future.residuals_s)
    )
    heapq.heapify(free_at)
    starts: list[float] = []
    left: list[float] = []
    waits_s: list[float | None] = []
    probe, probes = 0, len(probes_s)
    for joined_s, service_s in zip(future.joined_s, future.service_s, strict=True):
        while probe < probes and probes_s[probe] <= joined_s:
            waits_s.append(max(0.0, free_at[0] - probes_s[probe]))
            probe += 1
        start_s = free_at[0] if free_at[0] > joined_s else joined_s
        if closings_s:
            closing = bisect.bisect_right(closings_s, joined_s)
            if closing < len(closings_s) and start_s > closings_s[closing]:
                left.append(closings_s[closing])
                continue
        heapq.heapreplace(free_at, start_s + service_s)
        starts.append(start_s)
    while probe < probes:
        waits_s.append(max(0.0, free_at[0] - probes_s[probe]))
        probe += 1
    left.sort()
    lengths = [
        bisect.bisect_right(future.joined_s, p)
        - bisect.bisect_right(starts, p)
        - bisect.bisect_right(left, p)
        for p in probes_s
    ]
    return _Served(lengths, waits_s)


def forecast_horizon(
    present: Present,
    rates: HourlyArrivals,
    schedule: Schedule,
    now: datetime,
    futures: int = FUTURES,
) -> Horizon:
    """The next `SLOTS` quarters of an hour from `now` (see the module's docstring). The
    draws are seeded from `now`: the same inputs give the same forecast."""
    rng = random.Random(int(now.timestamp() * 1000))
    spans = open_spans(schedule, now, HORIZON_S)
    segments = _segments(spans, rates, schedule, now)
    closings_s = (
        [end_s for _, end_s in spans if end_s < HORIZON_S] if present.close_remaining else []
    )
    probe_step_s = SLOT_S / PROBES_PER_SLOT
    probes_s = [
        slot * SLOT_S + (probe + 0.5) * probe_step_s
        for slot in range(SLOTS)
        for probe in range(PROBES_PER_SLOT)
    ]
    probe_open = [any(a <= p < b for a, b in spans) for p in probes_s]
    line_draws = [_lognormal(s) for s in present.line]
    newcomers = [_lognormal(s) for s in present.newcomer_mix]
    counters = present.open_counters
    busy = list(present.at_counters[: max(0, counters)])
    runs: dict[int, list[_Served]] = {counters: [], counters + 1: []}
    for _ in range(futures):
        arrivals = _draw_arrivals(rng, segments)
        future = _Future(
            residuals_s=[_draw_residual(rng, visit) for visit in busy],
            joined_s=[0.0] * len(present.line) + arrivals,
            service_s=[_draw(rng, draw) for draw in line_draws]
            + [_draw(rng, rng.choice(newcomers)) for _ in arrivals],
        )
        for served_by, served in runs.items():
            served.append(_serve(future, served_by, probes_s, closings_s))
    slots = []
    for slot in range(SLOTS):
        window = range(slot * PROBES_PER_SLOT, (slot + 1) * PROBES_PER_SLOT)
        figures = [_slot_figures(runs[c], window, probe_open) for c in (counters, counters + 1)]
        start = now + timedelta(seconds=slot * SLOT_S)
        slots.append(
            HorizonSlot(
                start=start,
                end=start + timedelta(seconds=SLOT_S),
                open=any(a < (slot + 1) * SLOT_S and b > slot * SLOT_S for a, b in spans),
                line_length=figures[0][0],
                p90_wait_s=figures[0][1],
                line_length_plus_one=figures[1][0],
                p90_wait_s_plus_one=figures[1][1],
            )
        )
    return Horizon(now, counters, tuple(slots))


def _slot_figures(
    served: Sequence[_Served], window: range, probe_open: Sequence[bool]
) -> tuple[float, int | None]:
    """A slot's mean line length over its probes and futures, and the p90 wait of the
    newcomers probing it while open."""
    lengths = [run.lengths[p] for run in served for p in window]
    waits = [
        wait
        for run in served
        for p in window
        if probe_open[p]
        for wait in [run.waits_s[p]]
        if wait is not None
    ]
    mean_length = round(sum(lengths) / len(lengths), 1) if lengths else 0.0
    return mean_length, round(percentile(waits, QUANTILE)) if waits else None


def present_of(queue: Queue, now: datetime) -> Present:
    """What the forecast needs of a ranked queue at `now`: its line, the visits at its
    open counters (a ticket at a closed one holds up no open counter), its counters, and
    the mix of visits newcomers will bring.

    The mix is that of the patients waiting now, each with the learned time of their
    kind, topped up to `MIN_MIX` with the queue's time over every visit. That overall time
    alone is too short where kinds differ much: its outlier fences (`core.domain.eta`) take
    the long kind for outliers of the short one (the lab's 11-minute draws among 3.5-minute
    ones: 3.9 minutes learned, where the mix's mean is 4.9)."""
    open_names = {c.name for c in queue.counters.values() if c.is_open}
    at_counters = [
        AtCounter(
            queue.expected_service(t),
            (now - t.called_at).total_seconds() if t.called_at else 0.0,
        )
        for t in queue.at_counters()
        if t.counter in open_names
    ]
    line = [queue.expected_service(t) for t in queue.waiting()]
    # Not the visits at the counters: the long ones stay there longer, so are found there
    # more often than they arrive.
    mix = [*line, *[queue.service()] * max(0, MIN_MIX - len(line))]
    return Present(
        line=line,
        at_counters=at_counters,
        open_counters=len(open_names),
        newcomer_mix=mix,
        close_remaining=queue.config.on_close is OnClose.CLOSE_REMAINING,
    )


def queue_horizon(queue: Queue, rates: HourlyArrivals, now: datetime) -> Horizon:
    """The next two hours of a ranked queue."""
    return forecast_horizon(present_of(queue, now), rates, queue.config.schedule(), now)
