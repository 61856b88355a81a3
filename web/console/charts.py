"""Server-rendered SVG charts: a bar chart and a line chart, no JavaScript library.

Pure functions from labelled values to an SVG string. Every text is escaped, every chart
carries a `<title>` and a `<desc>` listing its data (what a screen reader reads out), and
every bar or point its own `<title>` (the tooltip when hovered). The SVG has a viewBox and
no fixed size, so CSS sizes it to its container.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

Format = Callable[[float], str]
WIDTH = 640
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 30, 48
"""Plot margins (viewBox units): room for tick labels, the legend and the axis labels."""
MAX_X_LABELS = 12
"""More labels than this overlap at the default width; the rest show only on hover."""
TICKS = 4
PALETTE = ("#0b63c5", "#b35900", "#1a7f37", "#8250df", "#c62828")
DASHES = ("", "6 4", "2 3", "8 3 2 3", "")
"""Series differ by dash pattern too, not by colour alone."""


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and a value per label (None leaves a gap)."""

    name: str
    values: Sequence[float | None]


def number(value: float) -> str:
    """`3`, `2.5`, `0.33`: short, without trailing zeros."""
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `value` (> 0)."""
    if value <= 0:
        return 1.0
    power: float = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def tick_text(value: float, step: float) -> str:
    """`value` with the decimals `step` needs to tell ticks apart (step 0.25: 0, 0.25, 0.5)."""
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(1.0, step):
        decimals += 1
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def axis_max(values: Sequence[float]) -> float:
    """A top for the y axis at a round tick step, so tick labels are round numbers."""
    top = max(values, default=0.0)
    if top <= 0:
        return float(TICKS)
    return nice_ceiling(top / TICKS) * TICKS


def _c(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def _label_step(count: int) -> int:
    return max(1, math.ceil(count / MAX_X_LABELS))


class _Frame:
    """The plot area and the parts every chart shares: title, axes, ticks, labels."""

    def __init__(self, labels: Sequence[str], top: float, width: int, height: int) -> None:
        self.labels, self.top = list(labels), top
        self.width, self.height = width, height
        self.x0, self.x1 = LEFT, width - RIGHT
        self.y0, self.y1 = height - BOTTOM, TOP

    def y(self, value: float) -> float:
        return self.y0 - (self.y0 - self.y1) * (value / self.top)

    def slot(self) -> float:
        return (self.x1 - self.x0) / max(1, len(self.labels))

    def centre(self, index: int) -> float:
        return self.x0 + self.slot() * (index + 0.5)

    def grid(self, fmt: Format) -> list[str]:
        """Grid lines and their labels, in `fmt`; when `fmt` would print two ticks alike
        (one decimal on a 0.05 step: 0.1, 0.1), with the decimals the step needs instead."""
        parts = []
        step = self.top / TICKS
        values = [step * tick for tick in range(TICKS + 1)]
        labels = [fmt(v) for v in values]
        if len(set(labels)) < len(labels):
            labels = [tick_text(v, step) for v in values]
        for value, label in zip(values, labels, strict=True):
            y = _c(self.y(value))
            parts.append(
                f'<line class="grid" x1="{self.x0}" x2="{self.x1}" y1="{y}" y2="{y}" '
                'stroke="#d8dee4" stroke-width="1"/>'
            )
            parts.append(
                f'<text class="tick" x="{self.x0 - 6}" y="{y}" text-anchor="end" '
                f'dominant-baseline="middle">{escape(label)}</text>'
            )
        return parts

    def x_labels(self) -> list[str]:
        step = _label_step(len(self.labels))
        return [
            f'<text class="tick" x="{_c(self.centre(i))}" y="{self.y0 + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
            for i, label in enumerate(self.labels)
            if i % step == 0
        ]

    def axes(self, x_label: str, y_label: str) -> list[str]:
        mid_y = _c((self.y0 + self.y1) / 2)
        return [
            f'<line class="axis" x1="{self.x0}" x2="{self.x1}" y1="{self.y0}" y2="{self.y0}" '
            'stroke="#5b6875" stroke-width="1"/>',
            f'<text class="axis-label" x="{_c((self.x0 + self.x1) / 2)}" '
            f'y="{self.height - 8}" text-anchor="middle">{escape(x_label)}</text>',
            f'<text class="axis-label" x="14" y="{mid_y}" text-anchor="middle" '
            f'transform="rotate(-90 14 {mid_y})">{escape(y_label)}</text>',
        ]


def _svg(kind: str, title: str, desc: str, body: list[str], width: int, height: int) -> str:
    ident = f"chart-{_slug(title)}"
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
            f'viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="{ident}-title {ident}-desc" '
            'font-family="system-ui, sans-serif" font-size="12" fill="#16202a">',
            f'<title id="{ident}-title">{escape(title)}</title>',
            f'<desc id="{ident}-desc">{escape(desc)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _empty(kind: str, title: str, width: int, height: int, message: str) -> str:
    text = (
        f'<text class="chart-empty" x="{width // 2}" y="{height // 2}" text-anchor="middle" '
        f'fill="#5b6875">{escape(message)}</text>'
    )
    return _svg(kind, title, message, [text], width, height)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str,
    unit: str = "",
    fmt: Format = number,
    width: int = WIDTH,
    height: int = HEIGHT,
    empty: str = "No data",
) -> str:
    """Vertical bars, one per label; `unit` follows each value in the tooltips (` min`)."""
    if len(labels) != len(values):
        raise ValueError("one value per label")
    if not labels:
        return _empty("bar", title, width, height, empty)
    frame = _Frame(labels, axis_max(values), width, height)
    bar_w = frame.slot() * 0.7
    body = frame.grid(fmt)
    shown = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        text = f"{label}: {fmt(value)}{unit}"
        shown.append(text)
        top = frame.y(max(0.0, value))
        body.append(
            f'<rect class="bar" x="{_c(frame.centre(i) - bar_w / 2)}" y="{_c(top)}" '
            f'width="{_c(bar_w)}" height="{_c(frame.y0 - top)}" fill="{PALETTE[0]}">'
            f"<title>{escape(text)}</title></rect>"
        )
    body += frame.x_labels() + frame.axes(x_label, y_label)
    return _svg("bar", title, "; ".join(shown), body, width, height)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """The stretches of consecutive known values (a None breaks the line)."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, value))
    return [run for run in runs if run]


def _legend(series: Sequence[Series], frame: _Frame) -> list[str]:
    parts, x = [], float(frame.x0)
    for n, line in enumerate(series):
        colour, dash = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<g class="legend-item"><line x1="{_c(x)}" x2="{_c(x + 22)}" y1="12" y2="12" '
            f'stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
            f'<text x="{_c(x + 28)}" y="12" dominant-baseline="middle">'
            f"{escape(line.name)}</text></g>"
        )
        x += 40 + 7 * len(line.name)
    return parts


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    unit: str = "",
    fmt: Format = number,
    width: int = WIDTH,
    height: int = HEIGHT,
    empty: str = "No data",
) -> str:
    """One line per series over shared labels, with a legend; a point per known value."""
    if any(len(s.values) != len(labels) for s in series):
        raise ValueError("each series needs one value per label")
    known = [v for s in series for v in s.values if v is not None]
    if not labels or not series or not known:
        return _empty("line", title, width, height, empty)
    frame = _Frame(labels, axis_max(known), width, height)
    body = frame.grid(fmt)
    shown = []
    for n, line in enumerate(series):
        colour, dash = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(f'<g class="series" data-series="{escape(line.name)}">')
        for run in _runs(line.values):
            points = " ".join(f"{_c(frame.centre(i))},{_c(frame.y(v))}" for i, v in run)
            if len(run) > 1:
                body.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5"{dash_attr}/>'
                )
            for i, value in run:
                text = f"{labels[i]}, {line.name}: {fmt(value)}{unit}"
                shown.append(text)
                body.append(
                    f'<circle class="point" cx="{_c(frame.centre(i))}" cy="{_c(frame.y(value))}" '
                    f'r="3.5" fill="{colour}"><title>{escape(text)}</title></circle>'
                )
        body.append("</g>")
    body += frame.x_labels() + frame.axes(x_label, y_label) + _legend(series, frame)
    return _svg("line", title, "; ".join(shown), body, width, height)
