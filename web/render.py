"""The one Jinja environment for every page, with the filters pages share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

DASH = "\u2013"
NONE = DASH
"""Shown where a figure is unknown."""

templates = Environment(loader=PackageLoader("web"), autoescape=select_autoescape())


def duration(seconds: float | None) -> str:
    """`42 s`, `7 min`, `1 h 05 min`: how staff read a wait."""
    if seconds is None:
        return NONE
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def eta_range(low_s: int | None, high_s: int | None) -> str:
    if low_s is None or high_s is None:
        return NONE
    low, high = round(low_s / 60), max(1, round(high_s / 60))
    return f"{low}{DASH}{high} min" if low != high else f"{high} min"


def clock_time(value: datetime | None, timezone: Any = None) -> str:
    if value is None:
        return NONE
    return (value.astimezone(timezone) if timezone else value).strftime("%H:%M")


templates.filters.update(duration=duration, eta_range=eta_range, clock_time=clock_time)


def render(template: str, **context: Any) -> str:
    return templates.get_template(template).render(**context)
