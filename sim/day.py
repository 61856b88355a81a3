"""The patients of one simulated day, drawn once from a seed and replayed under every
policy, so that policies are compared on the very same day (common random numbers)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from sim.profile import Profile

K = TypeVar("K")


@dataclass(frozen=True)
class SimulatedPatient:
    index: int
    arrival_s: float
    """Seconds from the day's local midnight."""
    kind: str
    """The kind of visit it really is..."""
    recorded_kind: str | None
    """...and what the desk recorded at join (None: not known)."""
    service_s: float
    priority: int
    appointment_s: float | None
    channel: str
    """telegram, sms or none."""
    no_show: bool
    """Not there at the first call."""
    returns_after_s: float | None
    """An absent patient who comes back this long after being marked absent."""


def draw_day(profile: Profile, seed: int) -> list[SimulatedPatient]:
    rng = random.Random(seed)
    patients: list[SimulatedPatient] = []
    shares = {k.name: k.share for k in profile.services}
    distributions = {k.name: k.distribution for k in profile.services}
    for arrival_s in _arrival_times(profile, rng):
        kind = _pick(rng, shares)
        distribution = distributions[kind]
        no_show = rng.random() < profile.no_shows.rate
        returns = no_show and rng.random() < profile.no_shows.return_rate
        appointment = rng.random() < profile.appointment_share
        patients.append(
            SimulatedPatient(
                index=len(patients),
                arrival_s=arrival_s,
                kind=kind,
                recorded_kind=kind if rng.random() < profile.kind_known_share else None,
                service_s=distribution.draw(rng),
                priority=_pick(rng, profile.priority_mix),
                appointment_s=arrival_s + rng.uniform(*profile.appointment_early_s)
                if appointment
                else None,
                channel=_pick(rng, profile.channels),
                no_show=no_show,
                returns_after_s=rng.uniform(*profile.no_shows.return_after_s) if returns else None,
            )
        )
    return patients


def _arrival_times(profile: Profile, rng: random.Random) -> list[float]:
    """A Poisson process whose rate is constant within each hour of the day."""
    times: list[float] = []
    open_s, close_s = profile.open_h * 3600, profile.close_h * 3600
    for hour in range(math.floor(profile.open_h), math.ceil(profile.close_h)):
        rate_per_s = profile.arrivals_per_hour.get(hour % 24, 0.0) / 3600
        if rate_per_s <= 0:
            continue
        start_s, end_s = max(open_s, hour * 3600.0), min(close_s, (hour + 1) * 3600.0)
        t = start_s + rng.expovariate(rate_per_s)
        while t < end_s:
            times.append(t)
            t += rng.expovariate(rate_per_s)
    return times


def _pick(rng: random.Random, shares: Mapping[K, float]) -> K:
    draw = rng.random()
    total = 0.0
    for value, share in shares.items():
        total += share
        if draw < total:
            return value
    return next(reversed(list(shares)))
