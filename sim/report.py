"""Figures of a simulation, per policy, with the analytics' own metric definitions
(`core.domain.metrics`): wait is join -> the call that led to the visit, and so on."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.domain.hourly import HourlyTally
from core.domain.metrics import Visit, percentile
from core.domain.model import TicketStatus
from sim.engine import DayResult, SimulatedVisit

TEN_MINUTES_S = 600
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def visits_of(days: Sequence[DayResult], warmup_s: float = 0.0) -> list[SimulatedVisit]:
    """Every patient of every day, but those who came during the warm-up."""
    return [v for day in days for v in day.visits if v.joined_s >= warmup_s]


def as_metric_visit(record: SimulatedVisit) -> Visit:
    """The record as the analytics see a ticket, so both measure waits the same way."""
    base = _EPOCH

    def at(seconds: float | None) -> Any:
        return None if seconds is None else base + timedelta(seconds=seconds)

    return Visit(
        joined_at=at(record.joined_s),
        status=record.status,
        called_at=at(record.call_s),
        finished_at=at(record.finished_s),
        counter=record.counter,
    )


def wait_figures(waits: Sequence[float]) -> dict[str, float | int]:
    return {
        "visits": len(waits),
        "mean_wait_s": _round(statistics.fmean(waits)) if waits else 0.0,
        "p50_wait_s": _round(percentile(waits, 0.5)),
        "p90_wait_s": _round(percentile(waits, 0.9)),
        "p99_wait_s": _round(percentile(waits, 0.99)),
        "max_wait_s": _round(max(waits, default=0.0)),
    }


def policy_figures(
    days: Sequence[DayResult],
    warmup_s: float = 0.0,
    fifo_days: Sequence[DayResult] | None = None,
    fairness_cap_s: float | None = None,
) -> dict[str, Any]:
    records = visits_of(days, warmup_s)
    metric_visits = [(r, as_metric_visit(r)) for r in records]
    waits = [w for _, v in metric_visits if (w := v.wait_s) is not None]
    figures: dict[str, Any] = {
        **wait_figures(waits),
        "served": sum(1 for r in records if r.status == TicketStatus.DONE),
        "no_shows": sum(1 for r in records if r.status == TicketStatus.NO_SHOW),
        "by_priority": _grouped(metric_visits, lambda r: str(r.patient.priority)),
        "by_kind": _grouped(metric_visits, lambda r: r.patient.kind),
        **_utilisation(days),
        **_eta_figures(records),
        **_message_figures(records),
        **_line_figures(days),
        "hourly": _hourly(days),
    }
    if fifo_days is not None:
        figures["vs_fifo"] = _against_fifo(days, fifo_days, warmup_s, fairness_cap_s)
    return figures


def _grouped(
    metric_visits: Iterable[tuple[SimulatedVisit, Visit]], key: Callable[[SimulatedVisit], str]
) -> dict[str, dict[str, float | int]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for record, visit in metric_visits:
        if (wait_s := visit.wait_s) is not None:
            groups[key(record)].append(wait_s)
    return {name: wait_figures(waits) for name, waits in sorted(groups.items())}


def _utilisation(days: Sequence[DayResult]) -> dict[str, Any]:
    busy, opened = defaultdict[str, float](float), defaultdict[str, float](float)
    for day in days:
        for name, seconds in day.busy_s.items():
            busy[name] += seconds
        for name, seconds in day.open_s.items():
            opened[name] += seconds
    total_open = sum(opened.values())
    return {
        "utilisation": _round(sum(busy.values()) / total_open, 4) if total_open else 0.0,
        "utilisation_by_counter": {
            name: _round(busy[name] / opened[name], 4) if opened[name] else 0.0
            for name in sorted(opened)
        },
    }


def _eta_figures(records: Sequence[SimulatedVisit]) -> dict[str, Any]:
    """The ETA each patient was given at join against when they were first called."""
    told = [
        (r.eta_at_join, r.naive_eta_s, r.first_wait_s)
        for r in records
        if r.eta_at_join is not None and r.naive_eta_s is not None and r.first_wait_s is not None
    ]
    if not told:
        return {"eta_patients": 0}
    errors = [e.eta_s - actual for e, _, actual in told]
    naive_errors = [naive - actual for _, naive, actual in told]
    mae, naive_mae = _mean_abs(errors), _mean_abs(naive_errors)
    return {
        "eta_patients": len(told),
        "eta_mae_s": _round(mae),
        "naive_eta_mae_s": _round(naive_mae),
        "eta_mae_below_naive": _round(1 - mae / naive_mae, 4) if naive_mae else 0.0,
        "eta_bias_s": _round(statistics.fmean(errors)),
        "eta_within_10min": _share(abs(e) <= TEN_MINUTES_S for e in errors),
        "naive_eta_within_10min": _share(abs(e) <= TEN_MINUTES_S for e in naive_errors),
        "eta_range_coverage": _share(e.low_s <= actual <= e.high_s for e, _, actual in told),
        "eta_range_width_mean_s": _round(statistics.fmean(e.high_s - e.low_s for e, _, _ in told)),
    }


def _message_figures(records: Sequence[SimulatedVisit]) -> dict[str, Any]:
    by_channel: dict[str, list[SimulatedVisit]] = defaultdict(list)
    for r in records:
        by_channel[r.patient.channel].append(r)
    sms, telegram = by_channel["sms"], by_channel["telegram"]
    return {
        "messages_per_visit": _per(sum(r.messages for r in records), len(records)),
        "telegram_messages_per_visit": _per(sum(r.messages for r in telegram), len(telegram)),
        "sms_messages_per_visit": _per(sum(r.sms_messages for r in sms), len(sms)),
        "sms_segments_per_visit": _per(sum(r.sms_segments for r in sms), len(sms)),
    }


def _line_figures(days: Sequence[DayResult]) -> dict[str, Any]:
    """Patients waiting, weighted by how long the line stayed that long."""
    area, span, peak = 0.0, 0.0, 0
    for day in days:
        for (start_s, size), (end_s, _) in zip(day.line, day.line[1:], strict=False):
            area += size * (end_s - start_s)
        if len(day.line) > 1:
            span += day.line[-1][0] - day.line[0][0]
        peak = max([peak, *(size for _, size in day.line)])
    return {"line_mean": _round(area / span, 2) if span else 0.0, "line_max": peak}


def _hourly(days: Sequence[DayResult]) -> list[dict[str, Any]]:
    """The server's hourly rows, summed over the days by local hour of day."""
    by_hour: dict[int, list[HourlyTally]] = defaultdict(list)
    for day in days:
        for tally in day.hourly:
            by_hour[day.local_hour(tally.hour_start)].append(tally)
    rows = []
    for hour, tallies in sorted(by_hour.items()):
        total = HourlyTally(tallies[0].hour_start)
        for tally in tallies:
            total.merge(tally)
        rows.append(
            {
                "hour": hour,
                "joined": total.joined,
                "completed": total.completed,
                "no_shows": total.no_shows,
                "avg_wait_s": _round(total.avg_wait_s),
                "max_wait_s": _round(total.wait_s_max),
                "avg_service_s": _round(total.avg_service_s),
                "peak_size": total.peak_size,
                "avg_size": _round(total.avg_size, 2),
            }
        )
    return rows


def _against_fifo(
    days: Sequence[DayResult],
    fifo_days: Sequence[DayResult],
    warmup_s: float,
    fairness_cap_s: float | None,
) -> dict[str, Any]:
    """The same patients on the same days: how much longer each waited than under FIFO."""

    def waits(of: Sequence[DayResult]) -> dict[tuple[int, int], float]:
        return {
            (day.day, r.patient.index): r.wait_s
            for day in of
            for r in day.visits
            if r.wait_s is not None and r.joined_s >= warmup_s
        }

    policy, fifo = waits(days), waits(fifo_days)
    extra = [wait_s - fifo[key] for key, wait_s in policy.items() if key in fifo]
    fifo_mean = statistics.fmean(fifo.values()) if fifo else 0.0
    mean = statistics.fmean(policy.values()) if policy else 0.0
    figures: dict[str, Any] = {
        "mean_wait_change": _round(mean / fifo_mean - 1, 4) if fifo_mean else 0.0,
        "max_extra_wait_s": _round(max(extra, default=0.0)),
        "p99_extra_wait_s": _round(percentile(extra, 0.99)),
        "waited_longer_share": _share(e > 0 for e in extra),
    }
    if fairness_cap_s is not None:
        figures["extra_over_cap_share"] = _share(e > fairness_cap_s for e in extra)
        # The bound the engine keeps: called no later than the cap past the call first come,
        # first served would have made to the patient (`Ticket.fifo_call_no`, its moment in
        # `fifo_call_at`); the extra wait above is against the FIFO run of the same day,
        # which the engine cannot know.
        over = [
            r.first_call_s - r.fifo_call_s - fairness_cap_s
            for day in days
            for r in day.visits
            if r.first_call_s is not None and r.fifo_call_s is not None and r.joined_s >= warmup_s
        ]
        figures["cap_excess_max_s"] = _round(max([0.0, *over]))
        figures["cap_excess_share"] = _share(e > 0 for e in over)
    return figures


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return _round(sum(values) / len(values), 4) if values else 0.0


def _per(total: float, count: int) -> float:
    return _round(total / count, 3) if count else 0.0


def _mean_abs(values: Sequence[float]) -> float:
    return statistics.fmean(abs(v) for v in values)


def _round(value: float, digits: int = 1) -> float:
    return round(value, digits)
