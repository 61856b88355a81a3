"""Opening hours and "closed" as the public pages show them: the waiting-room display, the
patient page, the web join form and the poster. One place builds the words, so the first
paint, the display's live snapshots and every page say the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core.domain.hours import WEEKDAYS
from core.domain.model import QueueConfig
from core.domain.queue import Queue
from core.messages import label

OPENING_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "hours": "Opening hours",
        "day_closed": "closed",
        "closures": "Also closed on",
        "closed": "Closed",
        "closed_opens": "Closed \u2013 opens {day} {time}",
        "paused": "Not taking new patients right now",
        "always_open": "Open every day",
    },
    "es": {
        "hours": "Horario",
        "day_closed": "cerrado",
        "closures": "También cerrado el",
        "closed": "Cerrado",
        "closed_opens": "Cerrado \u2013 abre el {day} a las {time}",
        "paused": "No se admiten pacientes nuevos ahora",
        "always_open": "Abierto todos los días",
    },
}


@dataclass(frozen=True)
class OpeningView:
    open: bool
    notice: str | None
    """What a closed queue's pages say (None while open): closed until when, or paused
    with the staff's message."""
    hours: list[tuple[str, str]]
    """(weekday, its intervals) for every weekday; empty when always open."""
    closures: list[str]


def _language(language: str | None) -> str:
    base = (language or "en").split("-")[0].lower()
    return base if base in OPENING_TEXT else "en"


def opening_text(language: str | None) -> dict[str, str]:
    return {**OPENING_TEXT["en"], **OPENING_TEXT[_language(language)]}


def hours_view(config: QueueConfig, language: str | None) -> OpeningView:
    """The week and closure dates alone (the poster: printed, so no "closed now")."""
    lang = _language(language)
    text = opening_text(lang)
    rows = []
    if config.opening_hours is not None:
        for day, intervals in zip(WEEKDAYS, config.opening_hours.days, strict=True):
            spans = ", ".join(f"{a:%H:%M}\u2013{b:%H:%M}" for a, b in intervals)
            rows.append((label(f"weekday_{day}", lang), spans or text["day_closed"]))
    closures = [day.isoformat() for day in config.closures]
    return OpeningView(True, None, rows, closures)


def opening_view(queue: Queue, now: datetime, language: str | None) -> OpeningView:
    """`hours_view`, with whether the queue takes patients at `now` and, if not, why."""
    lang = _language(language)
    text = opening_text(lang)
    week = hours_view(queue.config, lang)
    opening = queue.opening(now)
    notice = None
    if opening.pause is not None:
        notice = text["paused"] + (f": {opening.pause.message}" if opening.pause.message else "")
    elif not opening.open and opening.opens_at is not None:
        local = opening.opens_at.astimezone(ZoneInfo(queue.config.timezone))
        day = label(f"weekday_{WEEKDAYS[local.weekday()]}", lang)
        notice = text["closed_opens"].format(day=day, time=f"{local:%H:%M}")
    elif not opening.open:
        notice = text["closed"]
    return OpeningView(opening.open, notice, week.hours, week.closures)
