"""Records a few simulated days as `recorded_days.json`: what each patient was shown and
when they were called, so that a refactor of the engine or the simulator can be checked
against the code before it (`test_recorded_days.py`).

The fixture was made at commit 6df6a13 (the simulator still advising patients and making
messages with its own copy of the server's settle step), with

    .venv/bin/python -m tests.sim.record_days

Run it again only for a change that is meant to move an ETA, a position or a call, and say
so in the commit. Re-recorded for issue 20: the forecast that expects overtaking moved the
ETAs of lab-dynamic (its calls unchanged) and lab-short_first, whose calls moved too as
the fairness cap became a bound (a ticket is due one usual visit before the cap runs out);
the FIFO days replay unchanged. Re-recorded again when the busy counters were taken to
free up in turn (`eta._first_ends_s`, the first of several visits ending before the
soonest expected end of any one): every ETA with more than one busy counter moved, no
call did, and the one-counter day (mm1-fifo) replays unchanged. And again when the fairness
cap became a bound counted from the call first come, first served makes to a patient
(`Ticket.fifo_call_no`): lab-short_first's calls moved; the integral of when counters free
up moved the other days' ETAs by a second or so.

Per patient: the patient's index in the day, the position and the ETA (eta, low, high)
given at join, the naive ETA it is compared with, the first call and the last one (seconds
from local midnight, to the millisecond), the counter and how the visit ended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.engine import SimulatedVisit
from sim.profile import Profile, load_profile, steady_profile
from sim.run import Run, simulate

FIXTURE = Path(__file__).with_name("recorded_days.json")
COLUMNS = (
    "patient",
    "position_at_join",
    "eta_s",
    "eta_low_s",
    "eta_high_s",
    "naive_eta_s",
    "first_call_s",
    "call_s",
    "counter",
    "status",
)


@dataclass(frozen=True)
class RecordedDay:
    profile: str
    policy: str
    seed: int

    def profile_of(self) -> Profile:
        if self.profile == "M/M/1":  # 7.2 arrivals an hour, 7 min exponential, 12 hours
            return steady_profile(7.2, 7.0, "exponential", 1, 12.0)
        return load_profile(self.profile)


DAYS = {
    "pharmacy-fifo": RecordedDay("pharmacy", "fifo", 7),
    "lab-dynamic": RecordedDay("lab", "dynamic", 8),
    "lab-short_first": RecordedDay("lab", "short_first", 9),
    "mm1-fifo": RecordedDay("M/M/1", "fifo", 10),
}


def replay(day: RecordedDay) -> list[list[Any]]:
    """One row per patient (`COLUMNS`), in the order they joined."""
    run = Run(day.profile_of(), policies=(day.policy,), seed=day.seed)
    (result,) = simulate(run)[day.policy]
    return [_row(visit) for visit in sorted(result.visits, key=lambda v: v.patient.index)]


def _row(visit: SimulatedVisit) -> list[Any]:
    told = visit.eta_at_join
    return [
        visit.patient.index,
        visit.position_at_join,
        None if told is None else told.eta_s,
        None if told is None else told.low_s,
        None if told is None else told.high_s,
        _ms(visit.naive_eta_s),
        _ms(visit.first_call_s),
        _ms(visit.call_s),
        visit.counter,
        str(visit.status),
    ]


def _ms(seconds: float | None) -> float | None:
    """To the millisecond: a patient called in another order moves by whole seconds."""
    return None if seconds is None else round(seconds, 3)


def main() -> None:
    days = {name: replay(day) for name, day in DAYS.items()}
    # One patient a line: small diffs when a day does change.
    body = ",\n".join(
        f'  "{name}": [\n' + ",\n".join(f"    {json.dumps(row)}" for row in rows) + "\n  ]"
        for name, rows in days.items()
    )
    FIXTURE.write_text(f'{{\n  "columns": {json.dumps(COLUMNS)},\n{body}\n}}\n')
    for name, rows in days.items():
        print(f"{name}: {len(rows)} patients")


if __name__ == "__main__":
    main()
