"""Wait estimates with a range, from learned service times.

A counter is busy from the moment it calls a ticket until that ticket is done, so a sample
is `finished_at - called_at`. Samples come from the last 7 days; the current hour of day is
used when it has enough of them, the whole week otherwise. Outliers (a counter left open
over lunch) are dropped with Tukey's fences, and the result is shrunk towards the queue's
configured default so that a new queue starts with a sensible figure.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

HISTORY_WINDOW = timedelta(days=7)
MIN_HOUR_SAMPLES = 8
PRIOR_WEIGHT = 5
"""Pseudo-samples the configured default counts for; it fades as real samples arrive."""
PRIOR_CV = 0.5
"""Coefficient of variation assumed before any sample is seen."""
RANGE_Z = 1.28
"""Half-width of the range in standard deviations (about 80% two-sided)."""
TUKEY_K = 3.0
MIN_IQR_SHARE = 0.25


@dataclass(frozen=True)
class ServiceSample:
    finished_at: datetime
    service_s: float


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


def learn_service_time(
    samples: Sequence[ServiceSample], now: datetime, timezone: str, default_service_s: float
) -> ServiceTime:
    """Robust mean and spread of recent service times, for the current hour of day."""
    tz = ZoneInfo(timezone)
    recent = [s for s in samples if now - HISTORY_WINDOW <= s.finished_at <= now]
    hour = now.astimezone(tz).hour
    same_hour = [s for s in recent if s.finished_at.astimezone(tz).hour == hour]
    chosen, basis = (same_hour, "hour") if len(same_hour) >= MIN_HOUR_SAMPLES else (recent, "week")
    values = _without_outliers([s.service_s for s in chosen if s.service_s >= 0])
    prior_sd = PRIOR_CV * default_service_s
    n = len(values)
    if n == 0:
        return ServiceTime(float(default_service_s), prior_sd, 0, "default")
    sample_mean = statistics.fmean(values)
    sample_var = statistics.variance(values) if n > 1 else prior_sd**2
    mean = (n * sample_mean + PRIOR_WEIGHT * default_service_s) / (n + PRIOR_WEIGHT)
    var = (n * sample_var + PRIOR_WEIGHT * prior_sd**2) / (n + PRIOR_WEIGHT)
    return ServiceTime(mean, math.sqrt(var), n, basis)


def estimate(
    position: int, open_counters: int, at_counters: int, service: ServiceTime, load: float
) -> Eta:
    """Wait until the ticket at `position` is called.

    Free counters take the first tickets at once; after that, each of the c open counters
    frees up about every mean/c seconds. The range follows the spread of the sum of the
    services ahead, and its upper end is widened by the load factor.
    """
    counters = max(1, open_counters)
    free = max(0, open_counters - at_counters)
    services_ahead = max(0, position - free)
    if services_ahead == 0:
        return Eta(0, 0, 0)
    eta_s = services_ahead * service.mean_s / counters
    half_width_s = RANGE_Z * service.sd_s * math.sqrt(services_ahead) / counters
    low_s = max(0.0, eta_s - half_width_s)
    high_s = (eta_s + half_width_s) * load
    return Eta(round(eta_s), math.floor(low_s), math.ceil(high_s))
