"""Benchmark: what the simulator costs per patient, over a short and a long horizon.

    .venv/bin/python bench/simulate.py [--short-hours 30] [--long-hours 3000] [--runs 5]

Runs `nextup simulate` in this process (its own argument parser and `run`, so everything
but the interpreter's start-up is timed: the past week the learner starts from, the three
policies, the report and its JSON) on the M/M/1 of docs/algorithm.md, 7.2 arrivals an hour
and 7 min exponential service at one counter, for `--short-hours` and for `--long-hours`.
The short run is repeated `--runs` times and its medians taken; the long one runs once.

Prints wall and CPU time, patients (called, over the three policies) and microseconds of
CPU per patient for each, and their ratio. The verdict line: PASS when the long run takes
under 20 s of wall time and the two costs per patient are within 1.5x of each other (the
cost of a patient does not grow with the horizon). CPU time depends much less than wall
time on what else the machine runs; the load average is printed with the figures.

Results are printed and written to bench/results/simulate-latest.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sim.cli import add_arguments, run

RESULTS = Path(__file__).parent / "results"
MM1 = ("--arrivals-per-hour", "7.2", "--service-mean-min", "7", "--counters", "1")
LONG_RUN_LIMIT_S = 20.0
MAX_RATIO = 1.5


@dataclass(frozen=True)
class Timing:
    hours: float
    wall_s: float
    cpu_s: float
    patients: int

    @property
    def us_per_patient(self) -> float:
        return self.cpu_s / self.patients * 1e6


def simulate_once(hours: float) -> Timing:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([*MM1, "--hours", str(hours), "--json"])
    out = io.StringIO()
    started, started_cpu = time.perf_counter(), time.process_time()
    if run(args, out, io.StringIO()) != 0:
        raise SystemExit(f"nextup simulate --hours {hours} failed")
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    report = json.loads(out.getvalue())
    patients = sum(figures["visits"] for figures in report["policies"].values())
    return Timing(hours, wall_s, cpu_s, patients)


def median_of(hours: float, runs: int) -> Timing:
    timings = [simulate_once(hours) for _ in range(runs)]
    return Timing(
        hours,
        statistics.median(t.wall_s for t in timings),
        statistics.median(t.cpu_s for t in timings),
        timings[0].patients,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short-hours", type=float, default=30.0)
    parser.add_argument("--long-hours", type=float, default=3000.0)
    parser.add_argument("--runs", type=int, default=5, help="of the short run (median)")
    options = parser.parse_args()
    load_1min = os.getloadavg()[0]
    short = median_of(options.short_hours, options.runs)
    long = simulate_once(options.long_hours)
    ratio = long.us_per_patient / short.us_per_patient
    print(f"load average (1 min): {load_1min:.2f} on {os.cpu_count()} CPUs")
    print("M/M/1, 7.2 arrivals/h, 7 min exponential, 3 policies")
    print(f"{'hours':>7} {'wall':>8} {'CPU':>8} {'patients':>9} {'µs CPU/patient':>15}")
    for timing in (short, long):
        print(
            f"{timing.hours:7g} {timing.wall_s:7.2f}s {timing.cpu_s:7.2f}s "
            f"{timing.patients:9d} {timing.us_per_patient:15.0f}"
        )
    print(f"per patient, {long.hours:g} h against {short.hours:g} h: {ratio:.2f}x")
    fast = long.wall_s < LONG_RUN_LIMIT_S
    constant = 1 / MAX_RATIO <= ratio <= MAX_RATIO
    verdict = "PASS" if fast and constant else "FAIL"
    print(
        f"{verdict}: {long.hours:g} h in {long.wall_s:.1f} s (under {LONG_RUN_LIMIT_S:g} s: "
        f"{'yes' if fast else 'no'}), cost per patient within {MAX_RATIO}x: "
        f"{'yes' if constant else 'no'}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "simulate-latest.json").write_text(
        json.dumps(
            {
                "load_average_1min": load_1min,
                "short": asdict(short) | {"us_per_patient": short.us_per_patient},
                "long": asdict(long) | {"us_per_patient": long.us_per_patient},
                "ratio": ratio,
                "verdict": verdict,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
