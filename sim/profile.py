"""What a simulated day looks like: arrivals by hour, kinds of visit, counters, patients.

A profile is a JSON file (see `profiles/`). It is read once into frozen dataclasses; every
random draw of a day happens in `sim.day`, from a seeded generator.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROFILES_DIR = Path(__file__).parent / "profiles"
SHIPPED_PROFILES = ("pharmacy", "lab")


class ProfileError(ValueError):
    """A profile file that cannot be used; the message says which field and why."""


@dataclass(frozen=True)
class ServiceDistribution:
    """Time at a counter, call to done, in seconds: lognormal, exponential or resampled
    from real durations."""

    kind: str
    mean_s: float
    cv: float = 0.0
    samples_s: tuple[float, ...] = ()

    def draw(self, rng: random.Random) -> float:
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean_s)
        if self.kind == "empirical":
            return rng.choice(self.samples_s)
        sigma2 = math.log1p(self.cv**2)
        return rng.lognormvariate(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2))


@dataclass(frozen=True)
class ServiceKind:
    name: str
    share: float
    distribution: ServiceDistribution


@dataclass(frozen=True)
class CounterShift:
    counter: str
    open_h: float
    close_h: float


@dataclass(frozen=True)
class NoShows:
    rate: float = 0.0
    after_s: float = 120.0
    """How long staff wait at the counter before marking a called patient absent."""
    return_rate: float = 0.0
    """Share of absent patients who come back and are put back in line."""
    return_after_s: tuple[float, float] = (300.0, 1500.0)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    timezone: str
    arrivals_per_hour: Mapping[int, float]
    services: tuple[ServiceKind, ...]
    shifts: tuple[CounterShift, ...]
    priority_mix: Mapping[int, float]
    appointment_share: float = 0.0
    appointment_early_s: tuple[float, float] = (0.0, 900.0)
    """Patients with an appointment arrive this much before it (uniform)."""
    no_shows: NoShows = NoShows()
    channels: Mapping[str, float] = None  # type: ignore[assignment]
    kind_known_share: float = 1.0
    """Share of patients whose kind of visit is recorded at join (the rest count as unknown)."""

    @property
    def counters(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.counter for s in self.shifts))

    @property
    def mean_service_s(self) -> float:
        return sum(k.share * k.distribution.mean_s for k in self.services)

    @property
    def open_h(self) -> float:
        return min(s.open_h for s in self.shifts)

    @property
    def close_h(self) -> float:
        return max(s.close_h for s in self.shifts)


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (`pharmacy`, `lab`) or a JSON file of the same shape."""
    path = PROFILES_DIR / f"{name_or_path}.json"
    if name_or_path not in SHIPPED_PROFILES:
        path = Path(name_or_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        shipped = ", ".join(SHIPPED_PROFILES)
        raise ProfileError(f"no profile {name_or_path!r} (shipped: {shipped}, or a file)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a profile is a JSON object")
    return parse_profile(raw, path.parent)


def parse_profile(raw: Mapping[str, Any], base_dir: Path) -> Profile:
    try:
        return _parse(raw, base_dir)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(
            f"profile {raw.get('name', '?')!r}: bad or missing field {exc}"
        ) from None


def _parse(raw: Mapping[str, Any], base_dir: Path) -> Profile:
    timezone = str(raw.get("timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(f"unknown time zone {timezone!r}") from None
    arrivals = {int(h): float(rate) for h, rate in raw["arrivals_per_hour"].items()}
    if not arrivals or any(not 0 <= h <= 23 or r < 0 for h, r in arrivals.items()):
        raise ProfileError("arrivals_per_hour: hours 0-23, rates 0 or more")
    services = tuple(
        ServiceKind(name, float(spec["share"]), _distribution(name, spec, base_dir))
        for name, spec in raw["services"].items()
    )
    _check_shares("services", {k.name: k.share for k in services})
    shifts = tuple(
        CounterShift(str(c["name"]), float(start), float(end))
        for c in raw["counters"]
        for start, end in c["open"]
    )
    if not shifts or any(not 0 <= s.open_h < s.close_h <= 24 for s in shifts):
        raise ProfileError("counters: each opening is [from_hour, to_hour] within 0-24")
    priority_mix = {int(p): float(share) for p, share in raw.get("priority_mix", {"0": 1}).items()}
    _check_shares("priority_mix", priority_mix)
    channels = {str(c): float(s) for c, s in raw.get("channels", {"none": 1}).items()}
    if not set(channels) <= {"telegram", "sms", "none"}:
        raise ProfileError("channels: telegram, sms and none only")
    _check_shares("channels", channels)
    appointments = raw.get("appointments", {})
    no_show = raw.get("no_show", {})
    return Profile(
        name=str(raw.get("name", "custom")),
        description=str(raw.get("description", "")),
        timezone=timezone,
        arrivals_per_hour=arrivals,
        services=services,
        shifts=shifts,
        priority_mix=priority_mix,
        appointment_share=float(appointments.get("share", 0.0)),
        appointment_early_s=_minutes_range(appointments.get("early_min", [0, 15])),
        no_shows=NoShows(
            rate=float(no_show.get("rate", 0.0)),
            after_s=float(no_show.get("after_min", 2)) * 60,
            return_rate=float(no_show.get("return_rate", 0.0)),
            return_after_s=_minutes_range(no_show.get("return_after_min", [5, 25])),
        ),
        channels=channels,
        kind_known_share=float(raw.get("kind_known_share", 1.0)),
    )


def _distribution(name: str, spec: Mapping[str, Any], base_dir: Path) -> ServiceDistribution:
    kind = spec.get("dist", "lognormal")
    if kind == "csv":
        samples = read_durations(base_dir / spec["path"])
        return ServiceDistribution("empirical", sum(samples) / len(samples), 0.0, samples)
    mean_s = float(spec["mean_min"]) * 60
    if mean_s <= 0:
        raise ProfileError(f"service {name!r}: mean_min must be above 0")
    if kind == "exponential":
        return ServiceDistribution("exponential", mean_s, 1.0)
    if kind == "lognormal":
        return ServiceDistribution("lognormal", mean_s, float(spec.get("cv", 0.5)))
    raise ProfileError(f"service {name!r}: dist is lognormal, exponential or csv, not {kind!r}")


def read_durations(path: Path) -> tuple[float, ...]:
    """Seconds at the counter, one per row: the column `service_s` if there is a header
    naming it, else the first column."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise ProfileError(f"cannot read durations {path}: {exc}") from None
    column = 0
    if rows and "service_s" in rows[0]:
        column = rows[0].index("service_s")
        rows = rows[1:]
    elif rows and not _is_number(rows[0][0]):
        rows = rows[1:]
    values = tuple(float(r[column]) for r in rows if r and _is_number(r[column]))
    if not values or any(v <= 0 for v in values):
        raise ProfileError(f"{path}: needs durations in seconds, all above 0")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_shares(field: str, shares: Mapping[Any, float]) -> None:
    if not shares or any(s < 0 for s in shares.values()) or abs(sum(shares.values()) - 1) > 1e-6:
        raise ProfileError(f"{field}: shares must be 0 or more and add up to 1")


def _minutes_range(pair: Sequence[float]) -> tuple[float, float]:
    low, high = float(pair[0]) * 60, float(pair[1]) * 60
    if not 0 <= low <= high:
        raise ProfileError(f"range {list(pair)}: from 0 up, low to high")
    return low, high


def scaled(profile: Profile, arrival_scale: float) -> Profile:
    """The same day with `arrival_scale` times as many patients every hour."""
    if arrival_scale <= 0:
        raise ProfileError("the arrival scale must be above 0")
    if arrival_scale == 1:
        return profile
    rates = {hour: rate * arrival_scale for hour, rate in profile.arrivals_per_hour.items()}
    name = f"{profile.name} x{arrival_scale:g}"
    return dataclasses.replace(profile, name=name, arrivals_per_hour=rates)


def steady_profile(
    arrivals_per_hour: float,
    service_mean_min: float,
    service_dist: str,
    counters: int,
    hours: float,
    cv: float = 0.5,
) -> Profile:
    """A plain M/M/c-style day: constant arrivals, one kind of visit, every counter open
    all along, no priorities, appointments, no-shows or messages."""
    if arrivals_per_hour <= 0 or service_mean_min <= 0 or counters < 1 or hours <= 0:
        raise ProfileError("arrivals, service mean, counters and hours must be above 0")
    spec = {"dist": service_dist, "mean_min": service_mean_min, "cv": cv}
    distribution = _distribution("visit", spec, Path("."))
    return Profile(
        name=f"M/{'M' if service_dist == 'exponential' else 'G'}/{counters}",
        description=f"{arrivals_per_hour:g} arrivals/h, {service_mean_min:g} min {service_dist}",
        timezone="UTC",
        arrivals_per_hour={h: arrivals_per_hour for h in range(24)},
        services=(ServiceKind("visit", 1.0, distribution),),
        shifts=tuple(CounterShift(str(i + 1), 0.0, hours) for i in range(counters)),
        priority_mix={0: 1.0},
        channels={"none": 1.0},
    )
