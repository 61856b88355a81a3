"""Plots of a simulation, per policy: the waits, the ETA patients were given against the wait
they had, and the length of the line through the day; each as PNG and SVG.

matplotlib is an optional dependency (`pip install 'nextup[plots]'`): it is imported when
plots are asked for, so the rest of the simulator runs without it. Figures are built with the
object API (no pyplot, no global figure state) and are written byte for byte the same for the
same results, so a plot in a report only changes when the simulation does.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from core.domain.metrics import percentile
from sim.engine import DayResult, SimulatedVisit
from sim.profile import Profile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")
GRID_STEP_S = 300
"""The queue-length plot samples the line every 5 minutes."""
ETA_BAND_MIN = 10
"""The ETA plot shades predictions within this many minutes of the real wait (the report's
`eta_within_10min`)."""
FIGURE_SIZE_IN = (10.0, 6.0)
SQUARE_FIGURE_SIZE_IN = (8.0, 7.5)
"""For the ETA plot, whose axes share one scale so that y = x is the diagonal."""
DPI = 110
SVG_HASH_SALT = "nextup-sim"
"""Fixes the ids matplotlib writes into an SVG; they are random otherwise."""
POLICY_COLOURS = {"fifo": "#1f77b4", "dynamic": "#ff7f0e", "short_first": "#2ca02c"}
"""One colour per policy in every figure; other names take the next of OTHER_COLOURS."""
OTHER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
FORECAST_COLOUR = "#1f77b4"
NAIVE_COLOUR = "#d62728"
THINNEST_LINE = 1.2
LINE_WIDTH_STEP = 0.7
"""Each policy's line is drawn thinner than the one before, so that where two policies give
the same curve (one kind of visit makes short_first behave as fifo) both stay visible."""
MISSING_MATPLOTLIB = "plots need matplotlib: pip install 'nextup[plots]'"


class Style(NamedTuple):
    colour: str
    line_width: float


def write_plots(
    results: dict[str, list[DayResult]],
    profile: Profile,
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Writes waits, eta and queue_length in every format into `out_dir` (created if need
    be) and returns the paths written, figure by figure."""
    if not formats:
        raise ValueError("no plot format given: png or svg")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"plot format {unknown[0]!r}: png or svg")
    _require_matplotlib()
    styles = _policy_styles(results)
    figures = {
        "waits": _waits_figure(results, profile, styles),
        "eta": _eta_figure(results, profile),
        "queue_length": _queue_length_figure(results, profile, styles),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures.items():
        for fmt in dict.fromkeys(formats):
            path = out_dir / f"{name}.{fmt}"
            _save(figure, path, fmt)
            written.append(path)
    return written


def line_on_grid(
    line: Sequence[tuple[float, int]], start_s: float, end_s: float, step_s: float = GRID_STEP_S
) -> list[int]:
    """Patients waiting at `start_s`, `start_s + step_s`, ... up to `end_s` included: the value
    in force at each point, i.e. the last change at or before it (0 before the first: the
    day starts with an empty room). `line` is in time order; several changes at the same
    second leave the last one in force."""
    if step_s <= 0:
        raise ValueError("step_s must be above 0")
    times = [at_s for at_s, _ in line]
    series = []
    for index in range(math.floor((end_s - start_s) / step_s) + 1):
        at = bisect.bisect_right(times, start_s + index * step_s)
        series.append(line[at - 1][1] if at else 0)
    return series


def mean_line_on_grid(
    lines: Sequence[Sequence[tuple[float, int]]],
    start_s: float,
    end_s: float,
    step_s: float = GRID_STEP_S,
) -> list[float]:
    """`line_on_grid` of each day's line, averaged over the days point by point."""
    if not lines:
        return []
    per_day = [line_on_grid(line, start_s, end_s, step_s) for line in lines]
    return [statistics.fmean(values) for values in zip(*per_day, strict=True)]


# -- the three figures -----------------------------------------------------------------------


def _waits_figure(
    results: dict[str, list[DayResult]], profile: Profile, styles: dict[str, Style]
) -> Figure:
    """An empirical CDF per policy: how many patients waited at most so long; the p90 as a
    dotted line of the same colour."""
    figure, axes = _new_figure()
    for name, days in results.items():
        waits_min = sorted(w / 60 for w in _waits_s(days))
        if not waits_min:
            continue
        mean_min, p90_min = statistics.fmean(waits_min), percentile(waits_min, 0.9)
        shares = [100 * (i + 1) / len(waits_min) for i in range(len(waits_min))]
        label = f"{name}: mean {mean_min:.1f} min, p90 {p90_min:.1f} min (n={len(waits_min)})"
        colour, width = styles[name]
        axes.step(
            [0.0, *waits_min],
            [0.0, *shares],
            where="post",
            color=colour,
            linewidth=width,
            label=label,
        )
        axes.axvline(p90_min, color=colour, linestyle=":", linewidth=1)
    if axes.lines:
        axes.axhline(90, color="#999999", linestyle=":", linewidth=1, label="p90 (dotted lines)")
    axes.set_xlim(left=0)
    axes.set_ylim(0, 101)
    axes.set_xlabel("wait from join to call (min)")
    axes.set_ylabel("patients called within that wait (%)")
    axes.set_title(f"Waits by policy: {_run_label(profile, results)}")
    _legend_or_note(axes, "no patient was called")
    return figure


def _eta_figure(results: dict[str, list[DayResult]], profile: Profile) -> Figure:
    """Each patient's ETA at join (and the naive position x mean / counters) against the wait
    they really had until their first call, for one policy."""
    figure, axes = _new_figure(SQUARE_FIGURE_SIZE_IN)
    policy = "fifo" if "fifo" in results else next(iter(results), "")
    told = [
        (r.first_wait_s / 60, r.eta_at_join.eta_s / 60, r.naive_eta_s / 60)
        for r in _visits(results.get(policy, []))
        if r.eta_at_join is not None and r.naive_eta_s is not None and r.first_wait_s is not None
    ]
    title = f"ETA at join against the real wait: {_run_label(profile, results)}"
    title += f", {policy}" if policy else ""
    if told:
        actual = [a for a, _, _ in told]
        forecast = [f for _, f, _ in told]
        naive = [n for _, _, n in told]
        forecast_mae = statistics.fmean(abs(f - a) for a, f, _ in told)
        naive_mae = statistics.fmean(abs(n - a) for a, _, n in told)
        title += f"\nMAE: forecast {forecast_mae:.1f} min, naive {naive_mae:.1f} min"
        top = 1.05 * max(max(actual), max(forecast), max(naive), ETA_BAND_MIN)
        axes.fill_between(
            [0, top],
            [-ETA_BAND_MIN, top - ETA_BAND_MIN],
            [ETA_BAND_MIN, top + ETA_BAND_MIN],
            color="#e8e8e8",
            label=f"within ±{ETA_BAND_MIN} min",
        )
        axes.plot([0, top], [0, top], color="#555555", linewidth=1, label="exact (y = x)")
        axes.scatter(
            actual,
            naive,
            s=10,
            alpha=0.5,
            color=NAIVE_COLOUR,
            label="naive: position x mean / counters",
        )
        axes.scatter(actual, forecast, s=10, alpha=0.6, color=FORECAST_COLOUR, label="forecast")
        axes.set_xlim(0, top)
        axes.set_ylim(0, top)
        axes.set_aspect("equal", adjustable="box")
    axes.set_xlabel("real wait until the first call (min)")
    axes.set_ylabel("ETA given at join (min)")
    axes.set_title(title)
    _legend_or_note(axes, "no ETAs recorded (run with detailed figures)", loc="upper left")
    return figure


def _queue_length_figure(
    results: dict[str, list[DayResult]], profile: Profile, styles: dict[str, Style]
) -> Figure:
    figure, axes = _new_figure()
    start_s = math.floor(profile.open_h) * 3600
    # The last counter serves the line out after closing time, so the day may run late.
    last_change_s = max((d.line[-1][0] for ds in results.values() for d in ds if d.line), default=0)
    end_s = GRID_STEP_S * math.ceil(max(profile.close_h * 3600, last_change_s) / GRID_STEP_S)
    for name, days in results.items():
        series = mean_line_on_grid([day.line for day in days], start_s, end_s)
        hours = [(start_s + i * GRID_STEP_S) / 3600 for i in range(len(series))]
        colour, width = styles[name]
        axes.step(hours, series, where="post", color=colour, linewidth=width, label=name)
    axes.set_xlim(start_s / 3600, end_s / 3600)
    axes.set_ylim(bottom=0)
    span_h = (end_s - start_s) / 3600
    tick_every_h = max(1, math.ceil(span_h / 14))
    # Ticks on whole hours inside the day only: a tick past the end would widen the axis.
    axes.set_xticks(range(math.ceil(start_s / 3600), math.floor(end_s / 3600) + 1, tick_every_h))
    axes.set_xlabel(f"hour of the day ({profile.timezone})")
    axes.set_ylabel("patients waiting (mean over days, every 5 min)")
    axes.set_title(f"Length of the line: {_run_label(profile, results)}")
    _legend_or_note(axes, "nothing simulated")
    return figure


# -- helpers ------------------------------------------------------------------------------------


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RuntimeError(MISSING_MATPLOTLIB) from None


def _new_figure(size_in: tuple[float, float] = FIGURE_SIZE_IN) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size_in, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, color="#eeeeee")
    axes.set_axisbelow(True)
    return figure, axes


def _save(figure: Figure, path: Path, fmt: str) -> None:
    from matplotlib import rc_context

    # No dates or versions in the file, fixed SVG ids, and SVG text kept as text (smaller,
    # searchable, and a test can find the policy names in it).
    metadata: dict[str, str | None] = (
        {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    )
    with rc_context({"svg.hashsalt": SVG_HASH_SALT, "svg.fonttype": "none"}):
        figure.savefig(path, format=fmt, metadata=metadata)


def _legend_or_note(axes: Axes, note: str, loc: Literal["best", "upper left"] = "best") -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc=loc, fontsize="small")
    else:
        axes.text(0.5, 0.5, note, transform=axes.transAxes, ha="center", va="center")


def _policy_styles(results: dict[str, list[DayResult]]) -> dict[str, Style]:
    others = iter(OTHER_COLOURS * (1 + len(results) // len(OTHER_COLOURS)))
    last = len(results) - 1
    return {
        name: Style(
            POLICY_COLOURS.get(name) or next(others),
            THINNEST_LINE + LINE_WIDTH_STEP * (last - index),
        )
        for index, name in enumerate(results)
    }


def _visits(days: Sequence[DayResult]) -> list[SimulatedVisit]:
    return [visit for day in days for visit in day.visits]


def _waits_s(days: Sequence[DayResult]) -> list[float]:
    return [w for visit in _visits(days) if (w := visit.wait_s) is not None]


def _run_label(profile: Profile, results: dict[str, list[DayResult]]) -> str:
    days = max((len(d) for d in results.values()), default=0)
    return f"{profile.name}, {days} day{'' if days == 1 else 's'}"
