"""Who is expected to pass a waiting patient, under the ordering modes that reorder.

Under `dynamic` and `short_first` a patient is passed by later arrivals that the policy's
own rule puts ahead of them (`core.domain.ordering`): a higher priority, a shorter visit,
an appointment coming due. For each class of arrival (kind of visit, priority, booked)
this module says whether it passes a given waiting ticket and for how long it may: in
`short_first` until the ticket is due (the fairness cap), in `dynamic` until the ticket's
own waiting has outweighed the newcomer's advantage. The forecast (`eta.forecast`) turns
those windows and the learned arrival rates into expected work ahead and its spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.domain.arrivals import ArrivalRates
from core.domain.model import MAX_PRIORITY, QueueConfig, QueueMode, Ticket
from core.domain.ordering import appointment_score

if TYPE_CHECKING:
    from core.domain.eta import ServiceTime

MAX_PASSING_LOAD = 0.9
"""The share of counter time later arrivals may be expected to take ahead of anyone: a
busier estimate would promise a wait without end."""


@dataclass(frozen=True)
class Passers:
    """The classes of arrival that pass one group of waiting tickets, each as (how long
    after the group's reference point it stops passing, its counter load, the rate of the
    spread of its work), in the order they stop."""

    windows: tuple[tuple[float, float, float], ...]
    load: float
    """The sum of the windows' loads."""


NOBODY = Passers((), 0.0)


def passed_by(
    line: Sequence[Ticket],
    now: datetime,
    config: QueueConfig,
    rates: ArrivalRates,
    service_of: Callable[[str | None], ServiceTime],
    counters: int,
    due_at: Callable[[Ticket], datetime],
) -> list[tuple[Passers, float]] | None:
    """For each ticket of the line, its `Passers` and where its windows start from (the
    seconds to subtract from each window's end): None when nobody passes anybody."""
    if config.mode is QueueMode.FIFO or not rates:
        return None
    counters = max(1, counters)
    classes = [
        (kind, rate.per_s, service_of(kind.service), rate.appointment_lead_s)
        for kind, rate in rates.items()
        if rate.per_s > 0
    ]
    groups: dict[tuple[object, ...], Passers] = {}
    passing: list[tuple[Passers, float]] = []
    if config.mode is QueueMode.SHORT_FIRST:
        for ticket in line:
            own_s = service_of(ticket.service).mean_s
            key = (ticket.priority, own_s)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _short_first_group(ticket.priority, own_s, classes, counters)
            # Windows of the same priority close when the ticket is due.
            passing.append((group, -(due_at(ticket) - now).total_seconds()))
        return passing
    weights = config.weights
    for ticket in line:
        own_score = appointment_score(ticket, now, config.appointment_window_s)
        key = (ticket.priority, round(own_score, 1))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _dynamic_group(
                ticket.priority, own_score, classes, counters, config
            )
        waited_s = max(0.0, (now - ticket.line_at).total_seconds())
        passing.append((group, waited_s if weights.wait_time > 0 else 0.0))
    return passing


_Class = tuple[object, float, "ServiceTime", float]


def _short_first_group(
    priority: int, own_s: float, classes: Sequence[_Class], counters: int
) -> Passers:
    windows = []
    for kind, per_s, service, _ in classes:
        kind_priority = getattr(kind, "priority", 0)
        if kind_priority > priority:
            windows.append(_window(math.inf, per_s, service, counters))
        elif kind_priority == priority and service.mean_s < own_s:
            windows.append(_window(0.0, per_s, service, counters))
    return _passers(windows)


def _dynamic_group(
    priority: int, own_score: float, classes: Sequence[_Class], counters: int, config: QueueConfig
) -> Passers:
    weights = config.weights
    windows = []
    for kind, per_s, service, lead_s in classes:
        booked = getattr(kind, "booked", False)
        arriving_score = 0.0
        if booked:
            window_s = config.appointment_window_s
            arriving_score = (
                1.0 if window_s == 0 or lead_s <= 0 else max(0.0, 1 - lead_s / window_s)
            )
        advantage = weights.priority * (getattr(kind, "priority", 0) - priority) / MAX_PRIORITY
        advantage += weights.appointment * (arriving_score - own_score)
        if advantage <= 0:
            continue
        if weights.wait_time <= 0 or advantage >= weights.wait_time:
            windows.append(_window(math.inf, per_s, service, counters))
        else:
            # Passes until the ticket's own waiting score has caught up with the advantage.
            until_s = advantage / weights.wait_time * config.wait_horizon_s
            windows.append(_window(until_s, per_s, service, counters))
    return _passers(windows)


def _window(
    ends_s: float, per_s: float, service: ServiceTime, counters: int
) -> tuple[float, float, float]:
    load = per_s * service.mean_s / counters
    spread = per_s * (service.mean_s**2 + service.sd_s**2) / counters**2
    return ends_s, load, spread


def _passers(windows: list[tuple[float, float, float]]) -> Passers:
    if not windows:
        return NOBODY
    total = sum(load for _, load, _ in windows)
    scale = MAX_PASSING_LOAD / total if total > MAX_PASSING_LOAD else 1.0
    ordered = tuple(
        sorted((ends_s, load * scale, spread * scale) for ends_s, load, spread in windows)
    )
    return Passers(ordered, total * scale)


def overtaken(wait_s: float, passers: Passers, start_s: float) -> tuple[float, float]:
    """The wait of a ticket that would wait `wait_s` if nobody passed, once the arrivals
    of `passers` have passed it (each while its window, less `start_s`, lasts), and the
    variance that adds: W = wait_s + sum(load x min(W, window))."""
    if not passers.windows or wait_s <= 0:
        return wait_s, 0.0
    load, saturated_s = passers.load, 0.0
    for ends_s, window_load, _ in passers.windows:
        window_s = ends_s - start_s
        if window_s <= 0:
            load -= window_load
            continue
        if (wait_s + saturated_s) / (1 - load) <= window_s:
            break
        load -= window_load
        saturated_s += window_load * window_s
    total_s = (wait_s + saturated_s) / (1 - load)
    variance = 0.0
    for ends_s, _, spread in passers.windows:
        window_s = ends_s - start_s
        if window_s > 0:
            variance += spread * (total_s if total_s < window_s else window_s)
    return total_s, variance


def fifo_due_at(ticket: Ticket, config: QueueConfig, lead_s: float) -> datetime:
    """When a ticket becomes due in `short_first`: `lead_s` before the cap past its FIFO
    call, so that it is reached before the cap runs out (`ordering.is_due`)."""
    fifo_call_at = ticket.fifo_call_at or ticket.line_at
    return fifo_call_at + timedelta(seconds=config.fairness_cap_s - lead_s)
