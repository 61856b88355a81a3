"""The figures of docs/algorithm.md: policies and ETA on the shipped profiles, the fairness
cap swept, and the plots. Run by `make algorithm`, or directly:

    .venv/bin/python bench/algorithm.py [--days 20] [--seed 1] [--plots docs/algorithm]

Prints the simulator's table per profile, then, per profile, short_first's mean wait
against FIFO and its extra wait for a range of fairness caps. Writes the JSON report of
each profile to bench/results/algorithm-<profile>.json and the plots to --plots.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sim.cli import build_report, render_table
from sim.engine import DayResult
from sim.profile import SHIPPED_PROFILES, Profile, load_profile, scaled
from sim.report import policy_figures
from sim.run import DEFAULT_FAIRNESS_CAP_S, Run, simulate

CAPS_MIN = (5, 10, 20, 30, 45, 60, 240)
BUSY_SCALE = 1.2
"""A busy pharmacy day too: 20% more patients every hour."""
RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plots", type=Path, default=Path("docs/algorithm"))
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    days_to_run = [(name, 1.0) for name in SHIPPED_PROFILES] + [("pharmacy", BUSY_SCALE)]
    for name, scale in days_to_run:
        started = time.perf_counter()
        profile = scaled(load_profile(name), scale)
        name = profile.name.replace(" ", "")
        plan = Run(profile, days=args.days, seed=args.seed, warmup_s=profile.open_h * 3600)
        results = simulate(plan)
        report = build_report(plan, results)
        (RESULTS / f"algorithm-{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        print(render_table(report))
        if args.plots:
            from sim.plots import write_plots

            written = write_plots(results, profile, args.plots / name, formats=("png",))
            print("plots:", ", ".join(str(p) for p in written))
        print(f"({args.days} days, {time.perf_counter() - started:.1f} s)\n")
        sweep_caps(profile, args.days, args.seed, results["fifo"])
    return 0


def sweep_caps(profile: Profile, days: int, seed: int, fifo: list[DayResult]) -> None:
    print(f"short_first on {profile.name}, {days} days: fairness cap swept")
    print("cap      mean wait vs FIFO   max extra wait   p99 extra   extra over cap")
    for cap_min in CAPS_MIN:
        cap_s = cap_min * 60
        plan = Run(
            profile,
            policies=("short_first",),
            days=days,
            seed=seed,
            fairness_cap_s=cap_s,
            warmup_s=profile.open_h * 3600,
        )
        (days_run,) = simulate(plan).values()
        vs = policy_figures(days_run, plan.warmup_s, fifo, cap_s)["vs_fifo"]
        default = " (default)" if cap_s == DEFAULT_FAIRNESS_CAP_S else ""
        print(
            f"{cap_min:>3} min  {vs['mean_wait_change'] * 100:>+17.1f}%"
            f"  {vs['max_extra_wait_s'] / 60:>11.1f} min  {vs['p99_extra_wait_s'] / 60:>6.1f} min"
            f"  {vs['extra_over_cap_share'] * 100:>13.1f}%{default}"
        )
    print()


if __name__ == "__main__":
    raise SystemExit(main())
