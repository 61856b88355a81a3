"""The two-hour forecast (`core.domain.horizon`) against what then happened, in the
simulator. Run by `make horizon`, or directly:

    .venv/bin/python bench/horizon.py [--days 14] [--seed 1] [--every-min 30]

For each shipped profile (and the busy pharmacy, and `clinic` when its profile exists),
FIFO: the first seven days only make the hourly rows the arrival rates are learned from,
as the server learns them from its `hourly_metrics` table; on every later day, at every
`--every-min` minutes of the opening hours, the forecast is made from the simulated queue
as it stands and compared, slot by slot, with the line length that followed (the mean over
the same three moments of the slot) and the p90 wait of the patients who joined in the
slot (first call; slots with at least `MIN_JOINERS`). A baseline holds the present:
the line as long as now, and a p90 wait of the upper end of the range a patient joining
now is given. Prints one table, and writes bench/results/horizon.json.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.domain.eta import AtCounter, ServiceSample, ServiceTime
from core.domain.horizon import (
    PROBES_PER_SLOT,
    SLOT_S,
    SLOTS,
    Horizon,
    HourlyArrivals,
    Present,
    forecast_horizon,
    learn_hourly_arrivals,
    queue_horizon,
)
from core.domain.hourly import HourlyTally
from core.domain.hours import Schedule, parse_hours
from core.domain.metrics import percentile
from core.domain.model import QueueConfig
from sim.engine import HISTORY_DAYS, DayResult, DaySimulation
from sim.profile import PROFILES_DIR, SHIPPED_PROFILES, Profile, load_profile, scaled
from sim.run import day_seed, history_before, policy_config

BUSY_SCALE = 1.2
MIN_JOINERS = 5
"""A slot's real p90 wait is compared only when this many patients joined in it."""
RESULTS = Path(__file__).parent / "results"


@dataclass
class Made:
    """One forecast, made `at_s` after the day's midnight, with the baseline's figures."""

    at_s: float
    horizon: Horizon
    line_now: int
    joiner_high_s: int


class ForecastingDay(DaySimulation):
    """A simulated day that, at given moments, makes the two-hour forecast of its queue as
    it stands just before whatever happens next."""

    def __init__(
        self,
        profile: Profile,
        config: QueueConfig,
        day: int,
        seed: int,
        moments_s: Sequence[float],
        rates_at: Callable[[datetime, dict[datetime, HourlyTally]], HourlyArrivals],
        history: list[ServiceSample],
    ) -> None:
        super().__init__(profile, config, day, seed, history=history)
        self.pending = sorted(moments_s)
        self.rates_at = rates_at
        self.made: list[Made] = []
        self.cost_s = 0.0
        """CPU time spent making the forecasts."""
        for happening, handler in list(self._handlers.items()):
            self._handlers[happening] = self._forecasting_first(handler)

    def _forecasting_first(self, handler: Callable[[str], None]) -> Callable[[str], None]:
        def handle(subject: str) -> None:
            while self.pending and self.pending[0] <= self.now_s:
                self._forecast(self.pending.pop(0))
            handler(subject)

        return handle

    def _forecast(self, at_s: float) -> None:
        at = self.midnight + timedelta(seconds=at_s)
        started = time.process_time()
        rates = self.rates_at(at, self.hourly)
        horizon = queue_horizon(self.queue, rates, at)
        self.cost_s += time.process_time() - started
        self.made.append(Made(at_s, horizon, self.queue.size(), self.queue.joiner_eta(at).high_s))


def profile_schedule(profile: Profile) -> Schedule:
    """The profile's opening hours as a queue's: every day, first counter to last."""

    def clock(hours: float) -> str:
        minutes = round(hours * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    span = [[clock(profile.open_h), clock(min(profile.close_h, 23.99))]]
    hours = parse_hours({day: span for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    config = QueueConfig(timezone=profile.timezone, opening_hours=hours)
    return config.schedule()


def line_at(line: Sequence[tuple[float, int]], at_s: float) -> int:
    """The waiting line's length at `at_s` (after the changes at that very second)."""
    index = bisect.bisect_right(line, (at_s, float("inf"))) - 1
    return line[index][1] if index >= 0 else 0


@dataclass
class Errors:
    """Absolute errors (and signed, `bias`) of the forecast and of the baseline."""

    line: list[float] = field(default_factory=list)
    line_baseline: list[float] = field(default_factory=list)
    line_bias: list[float] = field(default_factory=list)
    within: list[bool] = field(default_factory=list)
    """Per patient who joined in a compared slot: called within the forecast p90 wait..."""
    within_baseline: list[bool] = field(default_factory=list)
    """...and within the baseline's."""
    p90: list[float] = field(default_factory=list)
    p90_baseline: list[float] = field(default_factory=list)
    p90_bias: list[float] = field(default_factory=list)
    by_slot_line: dict[int, list[float]] = field(default_factory=dict)
    by_slot_p90: dict[int, list[float]] = field(default_factory=dict)

    def figures(self) -> dict[str, object]:
        def mean(values: list[float], digits: int = 2) -> float | None:
            return round(statistics.fmean(values), digits) if values else None

        return {
            "slots": len(self.line),
            "line_mae": mean(self.line),
            "line_mae_baseline": mean(self.line_baseline),
            "line_bias": mean(self.line_bias),
            "patients": len(self.within),
            "called_within_p90": mean([float(w) for w in self.within], 4),
            "called_within_baseline": mean([float(w) for w in self.within_baseline], 4),
            "p90_slots": len(self.p90),
            "p90_mae_s": mean(self.p90),
            "p90_mae_baseline_s": mean(self.p90_baseline),
            "p90_bias_s": mean(self.p90_bias),
            "line_mae_by_slot": [mean(self.by_slot_line.get(i, [])) for i in range(SLOTS)],
            "p90_mae_s_by_slot": [mean(self.by_slot_p90.get(i, [])) for i in range(SLOTS)],
        }


GROUPS = ("all", "as_now", "one_more")
"""Every slot (with the counters open at the forecast), the slots up to whose end the same
counters stayed open, and those from whose forecast on exactly one more was (the profile's
shifts: a third counter at the peaks), compared with the forecast's `_plus_one` figures."""


def counters_open(profile: Profile, at_s: float) -> int:
    return sum(1 for s in profile.shifts if s.open_h * 3600 <= at_s < s.close_h * 3600)


def compare(made: Made, result: DayResult, profile: Profile, errors: dict[str, Errors]) -> None:
    """Adds one forecast's errors, slot by slot, against the day as it went."""
    step_s = SLOT_S / PROBES_PER_SLOT
    now = made.horizon.open_counters
    for index, slot in enumerate(made.horizon.slots):
        start_s = made.at_s + index * SLOT_S
        moments = [start_s + (p + 0.5) * step_s for p in range(PROBES_PER_SLOT)]
        # The counters open between the forecast and the slot's end, every minute.
        staffed = {counters_open(profile, made.at_s + 1 + m * 60) for m in range(index * 15 + 15)}
        groups = ["all"]
        if staffed == {now}:
            groups.append("as_now")
        elif staffed == {now + 1}:
            groups.append("one_more")
        real_line = statistics.fmean(line_at(result.line, m) for m in moments)
        waits = [
            v.first_wait_s
            for v in result.visits
            if start_s <= v.joined_s < start_s + SLOT_S and v.first_wait_s is not None
        ]
        for group in groups:
            plus_one = group == "one_more"
            line = slot.line_length_plus_one if plus_one else slot.line_length
            p90 = slot.p90_wait_s_plus_one if plus_one else slot.p90_wait_s
            kept = errors[group]
            kept.line.append(abs(line - real_line))
            kept.line_baseline.append(abs(made.line_now - real_line))
            kept.line_bias.append(line - real_line)
            kept.by_slot_line.setdefault(index, []).append(abs(line - real_line))
            if p90 is None:
                continue
            kept.within.extend(w <= p90 for w in waits)
            kept.within_baseline.extend(w <= made.joiner_high_s for w in waits)
            if len(waits) < MIN_JOINERS:
                continue
            real_p90 = percentile(waits, 0.9)
            kept.p90.append(abs(p90 - real_p90))
            kept.p90_bias.append(p90 - real_p90)
            kept.p90_baseline.append(abs(made.joiner_high_s - real_p90))
            kept.by_slot_p90.setdefault(index, []).append(abs(p90 - real_p90))


def run_profile(profile: Profile, days: int, seed: int, every_min: int) -> dict[str, object]:
    schedule = profile_schedule(profile)
    config = policy_config("fifo", profile, 1200)
    past: dict[datetime, HourlyTally] = {}

    def rates_at(at: datetime, today: dict[datetime, HourlyTally]) -> HourlyArrivals:
        rows = [(h, t.joined) for h, t in past.items()] + [(h, t.joined) for h, t in today.items()]
        return learn_hourly_arrivals(rows, at, schedule)

    open_s, close_s = profile.open_h * 3600, profile.close_h * 3600
    every_s = every_min * 60
    moments = [open_s + k * every_s for k in range(int((close_s - open_s) // every_s))]
    errors = {group: Errors() for group in GROUPS}
    forecasts, cost_s = 0, 0.0
    for day in range(days):
        forecasting = day >= HISTORY_DAYS
        simulation = ForecastingDay(
            profile,
            config,
            day,
            day_seed(seed, day),
            moments if forecasting else [],
            rates_at,
            history_before(profile, day, seed),
        )
        result = simulation.run()
        for made in simulation.made:
            compare(made, result, profile, errors)
        forecasts += len(simulation.made)
        cost_s += simulation.cost_s
        past.update((t.hour_start, t) for t in result.hourly)
    return {
        "profile": profile.name,
        "forecasts": forecasts,
        "mean_cost_ms": round(cost_s / max(1, forecasts) * 1000, 1),
        **{group: errors[group].figures() for group in GROUPS},
    }


def cells(kept: dict[str, object]) -> str:
    line, line_held = kept["line_mae"], kept["line_mae_baseline"]
    p90, p90_held, bias = kept["p90_mae_s"], kept["p90_mae_baseline_s"], kept["p90_bias_s"]
    text = f"{line:>6.2f} ({line_held:>5.2f}) {kept['p90_slots']:>9}"
    if isinstance(p90, float) and isinstance(p90_held, float) and isinstance(bias, float):
        text += f" {p90 / 60:>6.1f} min ({p90_held / 60:>5.1f} min) {bias / 60:>+5.1f} min"
    within, held = kept["called_within_p90"], kept["called_within_baseline"]
    if isinstance(within, float) and isinstance(held, float):
        text += f" {within * 100:>9.1f}% ({held * 100:>4.1f}%)"
    return text


def time_line_of_100(repeats: int = 30) -> dict[str, float]:
    """Median wall time of one forecast of a line of 100 (two counters busy, 30 arrivals an
    hour, opening hours) and of learning its rates from a week of hourly rows."""
    now = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
    visit = ServiceTime(240.0, 150.0, 50, "week")
    present = Present([visit] * 100, [AtCounter(visit, 60.0)] * 2, 2, [visit] * 100)
    week = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}
    config = QueueConfig(opening_hours=parse_hours(week))
    schedule = config.schedule()
    rows = [(now - timedelta(hours=h), 30) for h in range(1, 169)]
    forecast_s, learn_s = [], []
    for repeat in range(repeats):
        started = time.perf_counter()
        rates = learn_hourly_arrivals(rows, now, schedule)
        learned = time.perf_counter()
        forecast_horizon(present, rates, schedule, now + timedelta(seconds=repeat))
        learn_s.append(learned - started)
        forecast_s.append(time.perf_counter() - learned)
    return {
        "forecast_ms": round(statistics.median(forecast_s) * 1000, 1),
        "learn_rates_ms": round(statistics.median(learn_s) * 1000, 1),
    }


def profiles_to_run() -> list[Profile]:
    chosen = [load_profile(name) for name in SHIPPED_PROFILES]
    chosen.append(scaled(load_profile("pharmacy"), BUSY_SCALE))
    if (PROFILES_DIR / "clinic.json").exists():
        chosen.append(load_profile("clinic"))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14, help="simulated days, the first 7 learn")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--every-min", type=int, default=30)
    args = parser.parse_args()
    if args.days <= HISTORY_DAYS:
        parser.error(f"--days must be above {HISTORY_DAYS}: the first {HISTORY_DAYS} learn")
    cost = time_line_of_100()
    print(
        f"one forecast of a line of 100: {cost['forecast_ms']} ms (median wall), learning the"
        f" arrival rates from a week of hourly rows: {cost['learn_rates_ms']} ms"
    )
    figures: list[dict[str, object]] = [{"cost_line_of_100": cost}]
    print(
        f"two-hour forecast against the simulated future, FIFO, days {HISTORY_DAYS + 1}-"
        f"{args.days} (seed {args.seed}), a forecast every {args.every_min} min of opening;"
        "\nmean absolute error per slot, and patients called within the p90"
        " (in brackets: holding the present)"
    )
    print(
        f"{'profile':<14} {'slots':<9} {'forecasts':>9} {'line MAE':>15} {'p90 slots':>9}"
        f" {'p90 wait MAE':>21} {'p90 bias':>9} {'called within p90':>18}"
    )
    for profile in profiles_to_run():
        row = run_profile(profile, args.days, args.seed, args.every_min)
        figures.append(row)
        for group in GROUPS:
            kept = row[group]
            assert isinstance(kept, dict)
            print(f"{row['profile']:<14} {group:<9} {row['forecasts']:>9} " + cells(kept))
    for row in figures[1:]:
        for group in ("as_now", "one_more"):
            kept = row[group]
            assert isinstance(kept, dict)
            print(f"{row['profile']} {group}: line MAE by slot {kept['line_mae_by_slot']}")
            print(f"{row['profile']} {group}: p90 MAE (s) by slot {kept['p90_mae_s_by_slot']}")
        print(f"{row['profile']}: {row['mean_cost_ms']} ms CPU per forecast")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "horizon.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
