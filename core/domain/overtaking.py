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

import bisect
import itertools
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

    windows: tuple[tuple[float, float, float, float], ...]
    load: float
    """The sum of the windows' loads."""
    reached_after_s: float | None = None
    """`short_first`: once its windows have closed the ticket is due and goes ahead of
    everyone who passed it and still waits; it is then reached this long after (about a
    visit shared by the counters). None: those who passed stay ahead (`dynamic`)."""
    delayed: bool = False
    """Some class passes only a while after it joins (a booked patient, once due)."""


NOBODY = Passers((), 0.0)

Passing = tuple[Passers, float, float, int]
"""Per ticket: its `Passers`, the seconds to subtract from each window's end, in how many
seconds it becomes due (`short_first`; inf: due already, or another mode) and its
priority."""


def passed_by(
    line: Sequence[Ticket],
    now: datetime,
    config: QueueConfig,
    rates: ArrivalRates,
    service_of: Callable[[str | None], ServiceTime],
    counters: int,
    due_lead_s: float,
    turn_at: Callable[[Ticket], datetime],
) -> list[Passing] | None:
    """For each ticket of the line, its `Passing`: None when nobody passes anybody.
    `turn_at` says when first come, first served makes (or made) its call to a ticket in
    `short_first`."""
    if config.mode is QueueMode.FIFO or not rates:
        return None
    counters = max(1, counters)
    classes = [
        (kind, rate.per_s, service_of(kind.service), rate.appointment_lead_s)
        for kind, rate in rates.items()
        if rate.per_s > 0
    ]
    groups: dict[tuple[object, ...], Passers] = {}
    passing: list[Passing] = []
    if config.mode is QueueMode.SHORT_FIRST:
        for ticket in line:
            own_s = service_of(ticket.service).mean_s
            key = (ticket.priority, own_s)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _short_first_group(
                    ticket.priority, own_s, classes, counters, due_lead_s
                )
            # Windows of the same priority close when the ticket is due.
            due_at = turn_at(ticket) + timedelta(seconds=config.fairness_cap_s - due_lead_s)
            if ticket.appointment_at is not None and ticket.appointment_at < due_at:
                due_at = ticket.appointment_at
            due_in_s = (due_at - now).total_seconds()
            jumps_in_s = due_in_s if due_in_s > 0 else math.inf
            passing.append((group, -due_in_s, jumps_in_s, ticket.priority))
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
        passing.append(
            (group, waited_s if weights.wait_time > 0 else 0.0, math.inf, ticket.priority)
        )
    return passing


_Class = tuple[object, float, "ServiceTime", float]
_Window = tuple[float, float, float, float]
"""(when it stops passing, counter load, rate of the spread of its work, delay): arrivals
of the class pass from `delay` after they join, while they joined before it stops."""


def _short_first_group(
    priority: int, own_s: float, classes: Sequence[_Class], counters: int, due_lead_s: float
) -> Passers:
    windows = []
    for kind, per_s, service, lead_s in classes:
        kind_priority = getattr(kind, "priority", 0)
        if kind_priority > priority:
            windows.append(_window(math.inf, per_s, service, counters))
        elif kind_priority == priority and service.mean_s < own_s:
            windows.append(_window(0.0, per_s, service, counters))
        elif kind_priority == priority and getattr(kind, "booked", False):
            # A booked patient is due when their appointment is, and then goes ahead of
            # everyone not yet due: they pass if that comes before this ticket is due.
            windows.append(_window(-lead_s, per_s, service, counters, delay_s=lead_s))
    # Once due, the next counter to free up takes it: about one visit shared by the counters.
    return _passers(windows, due_lead_s / counters)


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
    ends_s: float, per_s: float, service: ServiceTime, counters: int, delay_s: float = 0.0
) -> _Window:
    load = per_s * service.mean_s / counters
    spread = per_s * (service.mean_s**2 + service.sd_s**2) / counters**2
    return ends_s, load, spread, max(0.0, delay_s)


def _passers(windows: list[_Window], reached_after_s: float | None = None) -> Passers:
    if not windows:
        return NOBODY
    total = sum(window[1] for window in windows)
    scale = MAX_PASSING_LOAD / total if total > MAX_PASSING_LOAD else 1.0
    ordered = tuple(
        sorted(
            (ends_s, load * scale, spread * scale, delay_s)
            for ends_s, load, spread, delay_s in windows
        )
    )
    delayed = any(window[3] > 0 for window in ordered)
    return Passers(ordered, total * scale, reached_after_s, delayed)


def overtaken(wait_s: float, passers: Passers, start_s: float) -> tuple[float, float, float]:
    """The expected wait of a ticket that would wait `wait_s` if nobody passed, once the
    arrivals of `passers` have passed it, the variance that adds, and the wait to tell
    (the median): W = wait_s + the sum over the classes of load x how long they pass it,
    min(W - delay, window less `start_s`)."""
    if not passers.windows or wait_s <= 0:
        return wait_s, 0.0, wait_s
    if passers.delayed:
        total_s = _solved(wait_s, passers.windows, start_s)
    else:
        load, saturated_s = passers.load, 0.0
        for ends_s, window_load, _, _ in passers.windows:
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
    for ends_s, _, spread, delay_s in passers.windows:
        exposure_s = min(total_s - delay_s, ends_s - start_s)
        if exposure_s > 0:
            variance += spread * exposure_s
    point_s = wait_s + _median_share(total_s - wait_s, variance) * (total_s - wait_s)
    if passers.reached_after_s is not None:
        total_s = _once_due(passers, start_s, total_s)
        point_s = min(point_s, total_s)
    return total_s, variance, point_s


def _median_share(mean_s: float, variance: float) -> float:
    """The median of the work of those who pass, as a share of its mean: few passers make
    it skewed (most patients are passed by nobody or one, a few by many), and the wait
    told is the middle of what may happen, as for the rest of the forecast. Taken as a
    gamma distribution of that mean and variance: median ~ mean x (3k - 0.8) / (3k + 0.2)
    for shape k."""
    if mean_s <= 0 or variance <= 0:
        return 1.0
    shape = mean_s * mean_s / variance
    return max(0.0, (3 * shape - 0.8) / (3 * shape + 0.2))


def _solved(wait_s: float, windows: Sequence[_Window], start_s: float) -> float:
    """W = wait_s + sum(load x clamp(W - delay, 0, window)): piecewise linear with a slope
    below one, solved segment by segment between the points where a class starts or
    stops passing."""
    changes = []
    for ends_s, load, _, delay_s in windows:
        window_s = ends_s - start_s
        if window_s > 0:
            changes.append((delay_s, load))
            changes.append((delay_s + window_s, -load))
    changes.sort()
    at_s, passed_s, slope = 0.0, 0.0, 0.0
    for change_s, step in changes:
        # On [at_s, change_s] the passed work is passed_s + slope x (W - at_s).
        total_s = (wait_s + passed_s - slope * at_s) / (1 - slope)
        if total_s <= change_s:
            return total_s
        passed_s += slope * (change_s - at_s)
        at_s, slope = change_s, slope + step
    return (wait_s + passed_s - slope * at_s) / (1 - slope)


def _once_due(passers: Passers, start_s: float, total_s: float) -> float:
    """`short_first`: a ticket still waiting when it becomes due (`start_s` before the
    reference point of its windows) goes ahead of everyone not due, the ones ahead of it
    now and the ones that passed it alike, and is reached about `reached_after_s` later.
    (A higher priority may still pass it then; measured, counting that waits overshot.)
    One due already is in its place among the due."""
    due_in_s = -start_s
    if due_in_s <= 0 or total_s <= due_in_s:
        return total_s
    return min(total_s, due_in_s + (passers.reached_after_s or 0.0))


def jumped_by(
    waits_s: Sequence[float],
    line: Sequence[ServiceTime],
    counters: int,
    passing: Sequence[Passing],
) -> list[float] | None:
    """`short_first`: the work of the tickets behind each one (of its priority: the line is
    in priority order) that become due before it is reached or due itself, and then go
    ahead of it. A ticket behind that becomes due at d goes ahead of the ones ahead of it
    reached after d: with their times made non-decreasing along the line (nobody behind is
    expected sooner), those are a run just ahead of it, found by bisection and summed with
    a difference array: O(n log n) in all. None when nobody is behind to become due."""
    if all(jumps_in_s == math.inf for _, _, jumps_in_s, _ in passing):
        return None
    size = len(line)
    reached_s = []  # when each ticket is reached or due, whichever comes first, non-decreasing
    block_start = []  # where each ticket's priority starts in the line
    latest_s, start = 0.0, 0
    for index, (wait_s, (_, _, jumps_in_s, priority)) in enumerate(
        zip(waits_s, passing, strict=True)
    ):
        if index and priority != passing[index - 1][3]:
            start, latest_s = index, 0.0
        latest_s = max(latest_s, min(wait_s, jumps_in_s))
        reached_s.append(latest_s)
        block_start.append(start)
    difference = [0.0] * (size + 1)
    for index, (_, _, jumps_in_s, _) in enumerate(passing):
        if jumps_in_s == math.inf:
            continue
        first = bisect.bisect_right(reached_s, jumps_in_s, block_start[index], index)
        if first < index:
            work_s = line[index].mean_s / counters
            difference[first] += work_s
            difference[index] -= work_s
    return list(itertools.accumulate(difference[:size]))
