"""The one Jinja environment for every page, with the filters pages share."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from core.messages import plural, under_a_minute, wait_minutes, wait_words

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


def eta_range(low_s: int | None, high_s: int | None, language: str = "en") -> str:
    """ "5-10 min" (with an en dash), "less than a minute": the catalogue's words for a
    wait, as the patient's messages say it (minutes rounded outwards)."""
    if low_s is None or high_s is None:
        return NONE
    return wait_words(low_s, high_s, language, DASH)


def wait_text(low_s: int, high_s: int, text: dict[str, str]) -> str:
    """The patient page's line for a wait: `eta` ("about {range}") or, within a minute,
    `eta_soon` (never "about less than a minute")."""
    minutes = wait_minutes(low_s, high_s)
    if under_a_minute(minutes["eta_low_min"], minutes["eta_high_min"]):
        return text["eta_soon"]
    return text["eta"].replace("{range}", eta_range(low_s, high_s))


def clock_time(value: datetime | None, timezone: Any = None) -> str:
    if value is None:
        return NONE
    return (value.astimezone(timezone) if timezone else value).strftime("%H:%M")


def day_time(value: datetime | None, timezone: str) -> str:
    """ "Mon 08:00" in the queue's zone (the console is in English)."""
    if value is None:
        return NONE
    return value.astimezone(ZoneInfo(timezone)).strftime("%a %H:%M")


def count_of(count: int, word: str, language: str = "en") -> str:
    """ "1 segment", "2 segments": the catalogue's plural forms."""
    return plural(word, count, language)


templates.filters.update(
    duration=duration,
    eta_range=eta_range,
    wait_text=wait_text,
    clock_time=clock_time,
    day_time=day_time,
    plural=count_of,
)


def render(template: str, **context: Any) -> str:
    return templates.get_template(template).render(**context)
