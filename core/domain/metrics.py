"""Metric definitions shared by the analytics API, the console's analytics page and the
simulator (`sim.report`).

Wait is join -> the call that led to the visit (the ticket's `called_at`: for a patient who
missed a call and was put back in line, the last call); service is call -> done (the time a
counter is taken); the no-show rate is no-shows over tickets that reached a counter and
ended there.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.domain.model import TicketStatus


@dataclass(frozen=True)
class Visit:
    joined_at: datetime
    status: TicketStatus
    called_at: datetime | None = None
    finished_at: datetime | None = None
    counter: str | None = None

    @property
    def wait_s(self) -> float | None:
        if self.called_at is None:
            return None
        return (self.called_at - self.joined_at).total_seconds()

    @property
    def service_s(self) -> float | None:
        if self.status is not TicketStatus.DONE or self.called_at is None or not self.finished_at:
            return None
        return (self.finished_at - self.called_at).total_seconds()


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(values: Sequence[float]) -> dict[str, float]:
    return {
        "avg": statistics.fmean(values) if values else 0.0,
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "max": max(values, default=0.0),
    }


def summarise(visits: Sequence[Visit], timezone: str) -> dict[str, Any]:
    tz = ZoneInfo(timezone)
    count = defaultdict[TicketStatus, int](int)
    for v in visits:
        count[v.status] += 1
    waits = [w for v in visits if (w := v.wait_s) is not None]
    services = [s for v in visits if (s := v.service_s) is not None]
    ended_at_counter = count[TicketStatus.DONE] + count[TicketStatus.NO_SHOW]

    arrivals: dict[int, int] = defaultdict(int)
    hour_waits: dict[int, list[float]] = defaultdict(list)
    by_counter: dict[str, list[float]] = defaultdict(list)
    for v in visits:
        hour = v.joined_at.astimezone(tz).hour
        arrivals[hour] += 1
        if (w := v.wait_s) is not None:
            hour_waits[hour].append(w)
        if v.counter is not None and (s := v.service_s) is not None:
            by_counter[v.counter].append(s)

    return {
        "totals": {
            "joined": len(visits),
            "completed": count[TicketStatus.DONE],
            "no_shows": count[TicketStatus.NO_SHOW],
            "cancelled": count[TicketStatus.CANCELLED],
            "closed": count[TicketStatus.CLOSED],
            "in_progress": sum(
                count[s] for s in (TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING)
            ),
        },
        "wait_s": distribution(waits),
        "service_s": distribution(services),
        "no_show_rate": count[TicketStatus.NO_SHOW] / ended_at_counter if ended_at_counter else 0.0,
        "per_hour": [
            {"hour": hour, "arrivals": n, "avg_wait_s": distribution(hour_waits[hour])["avg"]}
            for hour, n in sorted(arrivals.items())
        ],
        "per_counter": [
            {"counter": name, "served": len(s), "avg_service_s": statistics.fmean(s)}
            for name, s in sorted(by_counter.items())
        ],
    }
