"""`nextup simulate`: arguments, the terminal table, JSON and plots."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sim.profile import Profile, ProfileError, load_profile, scaled, steady_profile
from sim.report import policy_figures
from sim.run import DEFAULT_FAIRNESS_CAP_S, POLICIES, Run, policies_of, simulate

STEADY_ARGUMENTS = ("arrivals_per_hour", "service_mean_min", "counters")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        help="pharmacy (default), lab, or a JSON file of the same shape (see sim/profiles)",
    )
    parser.add_argument(
        "--arrival-scale",
        type=float,
        default=1.0,
        help="a busier (1.2) or quieter (0.8) day of the profile",
    )
    steady = parser.add_argument_group(
        "a plain M/M/c-style run instead of a profile (all three of the first are needed)"
    )
    steady.add_argument("--arrivals-per-hour", type=float, metavar="λ")
    steady.add_argument("--service-mean-min", type=float, metavar="M")
    steady.add_argument("--counters", type=int, metavar="C")
    steady.add_argument(
        "--service-dist", choices=("exponential", "lognormal"), default="exponential"
    )
    steady.add_argument(
        "--service-cv", type=float, default=0.5, help="lognormal spread (default 0.5)"
    )
    steady.add_argument("--hours", type=float, default=8.0, help="length of the run (default 8)")
    parser.add_argument(
        "--policy",
        action="append",
        help=f"one of {', '.join(POLICIES)}, or all (default); repeat or separate with commas",
    )
    parser.add_argument("--days", type=int, default=1, help="days to simulate (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same run")
    parser.add_argument(
        "--fairness-cap-min",
        type=float,
        default=DEFAULT_FAIRNESS_CAP_S / 60,
        help="short_first: how long anyone may be passed over (default 20)",
    )
    parser.add_argument(
        "--warmup-hours",
        type=float,
        default=0.0,
        help="leave out the patients of the first hours (for long steady runs)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write PNG and SVG plots here")
    parser.set_defaults(run=lambda _settings, args: run(args))


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        plan = build_run(args)
    except (ProfileError, ValueError) as exc:
        print(f"nextup simulate: {exc}", file=err)
        return 2
    started = time.perf_counter()
    progress = ProgressBar(err) if err.isatty() and not args.json else None
    results = simulate(plan, progress)
    if progress is not None:
        progress.finish()
    report = build_report(plan, results)
    if args.plots is not None:
        from sim.plots import write_plots  # matplotlib is only needed here

        try:
            written = write_plots(results, plan.profile, args.plots)
        except RuntimeError as exc:
            print(f"nextup simulate: {exc}", file=err)
            return 1
        report["plots"] = [str(p) for p in written]
    if args.json:
        json.dump(report, out, indent=2, sort_keys=True)
        out.write("\n")
    else:
        out.write(render_table(report))
        out.write(f"\n{plan.days} day(s) x {len(plan.policies)} policies in ")
        out.write(f"{time.perf_counter() - started:.1f} s; --json for every figure\n")
    return 0


def build_run(args: argparse.Namespace) -> Run:
    if args.days < 1:
        raise ValueError("--days must be 1 or more")
    steady = [getattr(args, name) is not None for name in STEADY_ARGUMENTS]
    if any(steady) and args.profile:
        raise ValueError("give either --profile or the M/M/c arguments, not both")
    if any(steady) and not all(steady):
        raise ValueError(
            "an M/M/c run needs --arrivals-per-hour, --service-mean-min and --counters"
        )
    profile: Profile
    if all(steady):
        profile = steady_profile(
            args.arrivals_per_hour,
            args.service_mean_min,
            args.service_dist,
            args.counters,
            args.hours,
            args.service_cv,
        )
    else:
        profile = scaled(load_profile(args.profile or "pharmacy"), args.arrival_scale)
    names = [n.strip() for raw in args.policy or ["all"] for n in raw.split(",") if n.strip()]
    policies = POLICIES if "all" in names else policies_of(names)
    cap_s = round(args.fairness_cap_min * 60)
    return Run(
        profile,
        policies=policies,
        days=args.days,
        seed=args.seed,
        fairness_cap_s=cap_s,
        warmup_s=profile.open_h * 3600 + args.warmup_hours * 3600,
    )


def build_report(plan: Run, results: dict[str, Any]) -> dict[str, Any]:
    fifo = results.get("fifo")
    return {
        "profile": {"name": plan.profile.name, "description": plan.profile.description},
        "days": plan.days,
        "seed": plan.seed,
        "fairness_cap_s": plan.fairness_cap_s,
        "policies": {
            name: policy_figures(
                days,
                plan.warmup_s,
                fifo if name != "fifo" else None,
                plan.fairness_cap_s if name == "short_first" else None,
            )
            for name, days in results.items()
        },
    }


ROWS: tuple[tuple[str, str, str], ...] = (
    ("patients", "visits", "n"),
    ("served", "served", "n"),
    ("mean wait", "mean_wait_s", "min"),
    ("p50 wait", "p50_wait_s", "min"),
    ("p90 wait", "p90_wait_s", "min"),
    ("p99 wait", "p99_wait_s", "min"),
    ("max wait", "max_wait_s", "min"),
    ("mean wait vs FIFO", "vs_fifo.mean_wait_change", "pct"),
    ("max extra wait vs FIFO", "vs_fifo.max_extra_wait_s", "min"),
    ("called past FIFO turn + cap, max", "vs_fifo.cap_excess_max_s", "min"),
    ("counter utilisation", "utilisation", "pct"),
    ("mean line length", "line_mean", "n"),
    ("ETA mean abs. error", "eta_mae_s", "min"),
    ("naive ETA mean abs. error", "naive_eta_mae_s", "min"),
    ("ETA within ±10 min", "eta_within_10min", "pct"),
    ("range held the call", "eta_range_coverage", "pct"),
    ("range width, mean", "eta_range_width_mean_s", "min"),
    ("messages per visit", "messages_per_visit", "n"),
    ("SMS segments per SMS visit", "sms_segments_per_visit", "n"),
)


def render_table(report: dict[str, Any]) -> str:
    policies: dict[str, Any] = report["policies"]
    profile = report["profile"]
    header = ["", *policies]
    rows = [header]
    for label, path, unit in ROWS:
        values = [_lookup(figures, path) for figures in policies.values()]
        if all(v is None for v in values):
            continue
        rows.append([label, *(_format(v, unit) for v in values)])
    for priority in sorted({p for figures in policies.values() for p in figures["by_priority"]}):
        values = [_lookup(f, f"by_priority.{priority}.mean_wait_s") for f in policies.values()]
        rows.append([f"mean wait, priority {priority}", *(_format(v, "min") for v in values)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"{profile['name']}: {profile['description']}", ""]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _lookup(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _format(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "min":
        return f"{value / 60:.1f} min"
    if unit == "pct":
        return f"{value * 100:+.1f}%" if value < 0 else f"{value * 100:.1f}%"
    return f"{value:g}" if isinstance(value, int) else f"{value:.2f}"


class ProgressBar:
    """A one-line bar on the terminal; only drawn when stderr is one."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width

    def __call__(self, done: int, total: int) -> None:
        filled = round(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} day-runs")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
