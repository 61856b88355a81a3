"""Simulates days under several policies: the same days for each, from one seed."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.domain import arrivals, eta
from core.domain.model import QueueConfig, QueueMode, Weights
from sim.day import SimulatedPatient, draw_day
from sim.engine import FIRST_DAY, HISTORY_DAYS, DayResult, DaySimulation
from sim.profile import Profile

POLICIES = ("fifo", "dynamic", "short_first")
DAY_S = 24 * 3600
DEFAULT_FAIRNESS_CAP_S = 1200

Progress = Callable[[int, int], None]
"""Called with (runs done, runs in all) after each day of each policy."""


@dataclass(frozen=True)
class Run:
    profile: Profile
    policies: tuple[str, ...] = POLICIES
    days: int = 1
    seed: int = 1
    fairness_cap_s: int = DEFAULT_FAIRNESS_CAP_S
    warmup_s: float = 0.0
    """Patients who arrive before this (seconds from opening) are left out of the figures:
    a long steady run starts with an empty room, which would flatter it."""
    detailed: bool = True
    """Learned service times, ETAs and messages. Off for long theory checks, which need
    only the waits."""


def policy_config(name: str, profile: Profile, fairness_cap_s: int) -> QueueConfig:
    """The queue configuration a policy stands for; weights are the seed plan's defaults."""
    base = QueueConfig(
        default_service_s=max(1, round(profile.mean_service_s)),
        timezone=profile.timezone,
        service_times_s={k.name: max(1, round(k.distribution.mean_s)) for k in profile.services},
        fairness_cap_s=fairness_cap_s,
    )
    modes = {
        "fifo": QueueMode.FIFO,
        "dynamic": QueueMode.DYNAMIC,
        "short_first": QueueMode.SHORT_FIRST,
    }
    if name not in modes:
        raise ValueError(f"unknown policy {name!r} (choose from {', '.join(POLICIES)})")
    return replace(base, mode=modes[name], weights=Weights())


def day_seed(seed: int, day: int) -> int:
    return seed * 1_000_003 + day


PastWeek = list[tuple[datetime, SimulatedPatient]]


class DrawnDays:
    """The patients of one profile's days by seed, each day drawn once: a run replays a
    day under every policy, and the same day is in the past week of the seven after it.
    `draw_day` depends on nothing but the profile (fixed here) and the seed, and the
    patients are frozen, so a day drawn once serves every reader."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._by_seed: dict[int, list[SimulatedPatient]] = {}

    def day(self, seed: int) -> list[SimulatedPatient]:
        patients = self._by_seed.get(seed)
        if patients is None:
            patients = self._by_seed[seed] = draw_day(self.profile, seed)
        return patients

    def forget_before(self, seed: int) -> None:
        """Lets go of the days drawn with a seed below `seed` (no later day reads them)."""
        for old in [s for s in self._by_seed if s < seed]:
            del self._by_seed[old]


def past_week(profile: Profile, day: int, seed: int, drawn: DrawnDays | None = None) -> PastWeek:
    """The patients of the week before `day`, each with its day's midnight (UTC): drawn
    from the same profile, one seed per past day (or taken from `drawn`). Both learners
    start from it: drawn once per day, it serves `history_of` and `joins_of` alike. A past
    day is 24 hours even when the simulated one is longer (`--hours`): seven whole days of
    3,000 hours would overlap one another and the run, and feed the learners eight times
    the visits of the run itself."""
    tz = ZoneInfo(profile.timezone)
    days = drawn or DrawnDays(profile)
    week = []
    for back in range(HISTORY_DAYS, 0, -1):
        midnight = datetime.combine(
            FIRST_DAY + timedelta(days=day - back), datetime.min.time(), tz
        ).astimezone(UTC)
        week += [
            (midnight, patient)
            for patient in days.day(day_seed(seed, day - back))
            if patient.arrival_s < DAY_S
        ]
    return week


def history_of(week: PastWeek) -> list[eta.ServiceSample]:
    """A week of past visits for the learner to start from, as a queue that has been
    running a while has."""
    samples = [
        eta.ServiceSample(
            midnight + timedelta(seconds=patient.arrival_s + patient.service_s),
            patient.service_s,
            patient.recorded_kind,
        )
        for midnight, patient in week
        if not patient.no_show
    ]
    samples.sort(key=lambda s: s.finished_at)
    return samples


def history_before(profile: Profile, day: int, seed: int) -> list[eta.ServiceSample]:
    """`history_of` the week before `day`."""
    return history_of(past_week(profile, day, seed))


def joins_of(week: PastWeek) -> list[arrivals.JoinSample]:
    """The joins of the same past week, for the arrival rates."""
    return [join_sample(patient, midnight) for midnight, patient in week]


def join_sample(patient: SimulatedPatient, midnight: datetime) -> arrivals.JoinSample:
    lead_s = None if patient.appointment_s is None else patient.appointment_s - patient.arrival_s
    return arrivals.JoinSample(
        midnight + timedelta(seconds=patient.arrival_s),
        patient.recorded_kind,
        patient.priority,
        lead_s,
    )


def simulate(run: Run, progress: Progress | None = None) -> dict[str, list[DayResult]]:
    """Every policy over the same `run.days` days; results by policy, in day order."""
    with _few_collections():
        return _simulate(run, progress)


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """CPython's cycle collector looks at young objects every 700 net allocations, and its
    older rounds walk every object still alive. A simulation keeps most of what it makes
    (visits, samples, tickets) until its report and leaves few cycles to free, so those
    walks were a tenth of a 3,000-hour run: here young objects wait for 100,000."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _simulate(run: Run, progress: Progress | None) -> dict[str, list[DayResult]]:
    results: dict[str, list[DayResult]] = {name: [] for name in run.policies}
    total, done = len(run.policies) * run.days, 0
    drawn = DrawnDays(run.profile)
    for day in range(run.days):
        drawn.forget_before(day_seed(run.seed, day - HISTORY_DAYS))
        week = past_week(run.profile, day, run.seed, drawn) if run.detailed else []
        history, joins = history_of(week), joins_of(week)
        # Counted once for the day: each policy that reorders starts from a copy.
        arrival_history = arrivals.ArrivalHistory(run.profile.timezone, joins)
        for name in run.policies:
            config = policy_config(name, run.profile, run.fairness_cap_s)
            simulation = DaySimulation(
                run.profile,
                config,
                day,
                day_seed(run.seed, day),
                detailed=run.detailed,
                history=history,
                arrival_history=arrival_history,
                patients=drawn.day(day_seed(run.seed, day)),
            )
            results[name].append(simulation.run())
            done += 1
            if progress is not None:
                progress(done, total)
    return results


def policies_of(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r} (choose from {', '.join(POLICIES)})")
    return tuple(dict.fromkeys(names))
