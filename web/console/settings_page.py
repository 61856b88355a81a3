"""The admin's queue settings page: ordering, kinds of visit, capacity, notifications and
the call ladder, opening hours and closing time, counters, and the queue's name as patients
read it.

A plain form rather than HTMX: it posts back here so that every error can be shown next to
its own input, with what the admin typed kept. It is applied through the same services as
`PUT /api/v1/queues/{code}/config` and `PATCH /api/v1/queues/{code}`, and checked by the same
rules: the API's request schema and then the domain's own checks.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from annotated_types import Ge, Le
from pydantic import ValidationError
from sanic import Blueprint, Request
from sanic.request import RequestParameters
from sanic.response import HTTPResponse, html, redirect

from core.domain.errors import InvalidValue
from core.domain.hours import WEEKDAYS, OpeningHours, parse_closures, parse_hours
from core.domain.ladder import Rung, ladder_from
from core.domain.model import (
    MAX_PUBLIC_NAME,
    MAX_SERVICE_S,
    Counter,
    OnClose,
    QueueConfig,
    QueueMode,
    Weights,
    check_service_times,
)
from core.messages import LANGUAGE_NAMES, SUPPORTED_LANGUAGES
from core.services import accounts
from core.services.queues import QueueInfo, QueueService, checked_public_name
from core.storage.errors import NotFound
from core.storage.models import StaffAccount
from web.api.schemas import INT32_MAX, ConfigBody
from web.auth import ADMIN, staff_page
from web.console.routes import base_context
from web.deps import container_of
from web.templating import render

bp = Blueprint("queue_settings")
PATH = "/console/queues/<code>/settings"
WEIGHTS = ("priority", "wait_time", "appointment")
MINUTE_FIELDS = {
    "no_show_grace_min": "no_show_grace_s",
    "wait_alert_min": "wait_alert_s",
    "eta_change_margin_min": "eta_change_margin_s",
    "eta_update_interval_min": "eta_update_interval_s",
    "fairness_cap_min": "fairness_cap_s",
}
"""People think of these in minutes; the API and the domain keep seconds."""
FIELD_OF = {config: form for form, config in MINUTE_FIELDS.items()} | {
    "service_times_s": "service_times"
}
MAX_POSITIONS = 10
MAX_POSITION = 9999
MAX_COUNTER_NAME = 32
FORM = "form"
"""The error key for a problem that belongs to no single field."""
HOURS_SHOWN = "hours_shown"
"""Posted with the hours section, so an unticked box there reads as unticked (a browser
sends nothing for it) rather than as "keep what is stored"."""
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CHECKBOXES = ("hours_enabled", "refuse_past_closing")
INTERVAL = re.compile(r"(\d{1,2}:\d{2})\s*[-\u2013]\s*(\d{1,2}:\d{2})")


@dataclass
class CounterChoice:
    name: str
    is_open: bool
    remove: bool = False


@dataclass
class Submission:
    """What the admin sent, as typed (to show it again) and as config changes (to apply)."""

    values: dict[str, str]
    counters: list[CounterChoice]
    new_counter: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    """To the queue's configuration."""
    public_name: str | None = None
    """As it will be stored (the queue's, not its configuration's)."""
    errors: dict[str, str] = field(default_factory=dict)

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


def service(request: Request) -> QueueService:
    return container_of(request).queues


# -- showing ---------------------------------------------------------------------------------


def minutes(seconds: int) -> str:
    return f"{seconds / 60:.2f}".rstrip("0").rstrip(".")


def weight_text(value: float) -> str:
    return f"{value:.2f}"


def values_of(config: QueueConfig) -> dict[str, str]:
    """The form's fields for a stored configuration."""
    values = {f"weight_{name}": weight_text(getattr(config.weights, name)) for name in WEIGHTS}
    values.update(
        {form: minutes(getattr(config, name)) for form, name in MINUTE_FIELDS.items()},
        mode=config.mode.value,
        capacity="" if config.capacity is None else str(config.capacity),
        overflow_queue=config.overflow_queue or "",
        notify_positions=", ".join(str(p) for p in config.notify_positions),
        language=config.language,
        timezone=config.timezone,
        service_times=service_times_text(config.service_times_s),
        call_ladder=call_ladder_text(config.call_ladder),
        hours_enabled="on" if config.opening_hours is not None else "",
        closures="\n".join(day.isoformat() for day in config.closures),
        refuse_past_closing="on" if config.refuse_past_closing else "",
        on_close=config.on_close.value,
    )
    values.update(hours_texts(config.opening_hours))
    return values


def hours_texts(hours: OpeningHours | None) -> dict[str, str]:
    """One field a weekday: `08:00-13:00, 14:00-18:00`; empty when closed (or no hours:
    the page then offers the usual week, Monday to Friday from 09:00 to 17:00)."""
    if hours is None:
        week = {day: "09:00-17:00" if day not in ("sat", "sun") else "" for day in WEEKDAYS}
        return {f"hours_{day}": text for day, text in week.items()}
    return {
        f"hours_{day}": ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in intervals)
        for day, intervals in zip(WEEKDAYS, hours.days, strict=True)
    }


def call_ladder_text(ladder: Sequence[Rung]) -> str:
    """One rung a line, with its seconds: `sms 60`."""
    return "\n".join(f"{rung.step.value} {rung.after_s}" for rung in ladder)


def form_values(info: QueueInfo) -> dict[str, str]:
    return values_of(info.config) | {"public_name": info.public_name or ""}


def service_times_text(service_times_s: Mapping[str, int]) -> str:
    """One kind of visit a line, with its expected minutes: `pickup 2`."""
    return "\n".join(f"{kind} {minutes(s)}" for kind, s in sorted(service_times_s.items()))


@cache
def timezones() -> list[str]:
    return sorted(tz for tz in available_timezones() if "/" in tz or tz == "UTC")


async def page(
    request: Request,
    account: StaffAccount,
    csrf: str,
    info: QueueInfo,
    submission: Submission | None = None,
    status: int = 200,
) -> HTTPResponse:
    others = [q for q in await service(request).list_queues() if q.code != info.code]
    if submission is None:
        submission = Submission(form_values(info), counters_of(info))
    languages = {code: LANGUAGE_NAMES.get(code, code) for code in SUPPORTED_LANGUAGES}
    current = submission.values.get("language", "")
    if current and current not in languages:
        languages[current] = current  # set through the API: kept, not silently replaced
    bounds = {form: minute_bounds(name) for form, name in MINUTE_FIELDS.items()}
    body = render(
        "console/settings.html",
        **base_context(request, account, csrf, "board"),
        queue=info,
        others=others,
        form=submission,
        values=submission.values,
        errors=submission.errors,
        languages=languages,
        timezones=timezones(),
        bounds={k: (minutes(lo), minutes(hi)) for k, (lo, hi) in bounds.items()},
        wait_horizon=minutes(info.config.wait_horizon_s),
        max_public_name=MAX_PUBLIC_NAME,
        appointment_window=minutes(info.config.appointment_window_s),
        saved=request.args.get("saved") == "1" and not submission.errors,
        staff=await accounts.staff_of_queue(info.code),
        weekdays=list(zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)),
        staff_saved=request.args.get("staff") == "1",
    )
    return html(body, status=status)


def not_found(request: Request, account: StaffAccount, csrf: str, code: str) -> HTTPResponse:
    context = base_context(request, account, csrf, "board")
    return html(render("console/settings.html", **context, missing=code), status=404)


# -- reading the form ------------------------------------------------------------------------


def counters_of(info: QueueInfo) -> list[CounterChoice]:
    return [CounterChoice(c.name, c.is_open) for c in info.counters]


def read_counters(form: Any, info: QueueInfo) -> list[CounterChoice]:
    """Starts from the counters as stored, so one added meanwhile by someone else is kept;
    the open boxes only speak for the counters that were on the page."""
    shown = set(form.getlist("counter", []))
    opened = set(form.getlist("open", []))
    removed = set(form.getlist("remove", []))
    return [
        CounterChoice(
            c.name,
            c.name in opened if c.name in shown else c.is_open,
            c.name in removed,
        )
        for c in info.counters
    ]


def read(form: Any, info: QueueInfo, others: set[str]) -> Submission:
    """Each field as typed; a field missing from the post keeps its stored value."""
    stored = form_values(info)
    values = {name: str(form.get(name, stored[name])).strip() for name in stored}
    if form.get(HOURS_SHOWN):
        values.update({name: str(form.get(name, "")).strip() for name in CHECKBOXES})
    sub = Submission(values, read_counters(form, info), str(form.get("new_counter", "")).strip())
    read_public_name(sub)
    read_weights(sub)
    read_choices(sub, info, others)
    read_numbers(sub)
    read_service_times(sub)
    read_call_ladder(sub)
    read_hours(sub)
    return sub


def read_hours(sub: Submission) -> None:
    """The week as typed, a weekday a field (`08:00-13:00, 14:00-18:00`), the closure dates
    one a line (or comma-separated), what closing does, and whether to refuse joins that
    could not be seen before it."""
    values = sub.values
    if values["on_close"] in {o.value for o in OnClose}:
        sub.changes["on_close"] = values["on_close"]
    else:
        sub.fail("on_close", "choose what closing time does to the line")
    sub.changes["refuse_past_closing"] = bool(values["refuse_past_closing"])
    closures = [d for d in re.split(r"[\s,;]+", values["closures"]) if d]
    try:
        sub.changes["closures"] = [d.isoformat() for d in parse_closures(closures)]
    except InvalidValue as exc:
        sub.fail("closures", str(exc).removeprefix("closures: "))
    if not values["hours_enabled"]:
        sub.changes["opening_hours"] = None
        return
    week: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        text = values[f"hours_{day}"]
        pieces = [p.strip() for p in re.split(r"[,;]", text) if p.strip()]
        found = [INTERVAL.fullmatch(p) for p in pieces]
        bad = next((p for p, m in zip(pieces, found, strict=True) if m is None), None)
        if bad is not None:
            sub.fail(f"hours_{day}", f"{bad!r}: write times like 08:00-13:00, 14:00-18:00")
            continue
        week[day] = [[m.group(1).zfill(5), m.group(2).zfill(5)] for m in found if m]
    if any(f"hours_{day}" in sub.errors for day in WEEKDAYS):
        return
    try:
        parse_hours(week)
    except InvalidValue as exc:
        message = str(exc).removeprefix("opening_hours").lstrip(": ")
        named = next((d for d in WEEKDAYS if message.startswith(d)), None)
        sub.fail(f"hours_{named}" if named else "opening_hours", message)
        return
    sub.changes["opening_hours"] = week


def read_public_name(sub: Submission) -> None:
    try:
        sub.public_name = checked_public_name(sub.values["public_name"])
    except InvalidValue as exc:
        sub.fail("public_name", str(exc).removeprefix("public_name: "))


def read_weights(sub: Submission) -> None:
    weights = {name: number(sub, f"weight_{name}", 0.0, 1.0) for name in WEIGHTS}
    if all(w is not None for w in weights.values()):
        sub.changes["weights"] = weights


def number(sub: Submission, name: str, low: float, high: float) -> float | None:
    try:
        value = float(sub.values[name])
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        sub.fail(name, f"enter a number between {low:g} and {high:g}")
        return None
    if not low <= value <= high:
        sub.fail(name, f"must be between {low:g} and {high:g}")
        return None
    return value


def read_choices(sub: Submission, info: QueueInfo, others: set[str]) -> None:
    mode = sub.values["mode"]
    if mode in {m.value for m in QueueMode}:
        sub.changes["mode"] = mode
    else:
        sub.fail("mode", "choose FIFO, dynamic or short visits first")
    target = sub.values["overflow_queue"].upper()
    if target == info.code:
        sub.fail("overflow_queue", "a queue cannot overflow into itself")
    elif target and target not in others:
        sub.fail("overflow_queue", f"there is no queue {target}")
    else:
        sub.changes["overflow_queue"] = target or None
    for name in ("language", "timezone"):
        if sub.values[name]:
            sub.changes[name] = sub.values[name]
        else:
            sub.fail(name, f"choose a {'time zone' if name == 'timezone' else name}")


def read_numbers(sub: Submission) -> None:
    capacity = sub.values["capacity"]
    if not capacity:
        sub.changes["capacity"] = None
    elif not re.fullmatch(r"-?\d{1,12}", capacity):
        sub.fail("capacity", "enter a whole number, or leave it empty for no limit")
    elif int(capacity) < 1:
        sub.fail("capacity", "capacity must be at least 1 (leave it empty for no limit)")
    elif int(capacity) > INT32_MAX:
        sub.fail("capacity", f"capacity must be at most {INT32_MAX}")
    else:
        sub.changes["capacity"] = int(capacity)
    positions = [p for p in re.split(r"[\s,;]+", sub.values["notify_positions"]) if p]
    if not all(p.isdecimal() and 1 <= int(p) <= MAX_POSITION for p in positions):
        sub.fail("notify_positions", "enter positions of 1 or more, separated by commas: 3, 1")
    elif len(set(positions)) > MAX_POSITIONS:
        sub.fail("notify_positions", f"at most {MAX_POSITIONS} positions")
    else:
        sub.changes["notify_positions"] = sorted({int(p) for p in positions}, reverse=True)
    for form, name in MINUTE_FIELDS.items():
        low_s, high_s = minute_bounds(name)
        value = number(sub, form, low_s / 60, high_s / 60)
        if value is not None:
            sub.changes[name] = round(value * 60)


def read_service_times(sub: Submission) -> None:
    """`kind minutes` a line; names are lower-cased, blank lines skipped."""
    service_times_s: dict[str, int] = {}
    lines = [line.split() for line in sub.values["service_times"].splitlines()]
    for number, words in enumerate(lines, start=1):
        if not words:
            continue
        if words[2:] == ["min"]:  # the unit shown next to the field, typed as well
            words = words[:2]
        if len(words) != 2:
            sub.fail("service_times", f"line {number}: write a kind and its minutes, like pickup 2")
            return
        kind, text = words[0].lower(), words[1]
        try:
            expected_s = round(float(text) * 60)
        except (ValueError, OverflowError):
            expected_s = 0
        if not 1 <= expected_s <= MAX_SERVICE_S:
            sub.fail(
                "service_times",
                f"line {number}: {text} min for {kind}: enter minutes above 0 and up to "
                f"{minutes(MAX_SERVICE_S)}",
            )
            return
        if kind in service_times_s:
            sub.fail("service_times", f"line {number}: {kind} is listed twice")
            return
        service_times_s[kind] = expected_s
    try:
        check_service_times(service_times_s)
    except InvalidValue as exc:
        sub.fail("service_times", str(exc))
        return
    sub.changes["service_times_s"] = service_times_s


def read_call_ladder(sub: Submission) -> None:
    """`step seconds` a line (`sms 60`), in order; blank lines skipped."""
    rungs = []
    for number, words in enumerate(
        (line.split() for line in sub.values["call_ladder"].splitlines()), start=1
    ):
        if not words:
            continue
        if words[2:] == ["s"]:  # the unit shown next to the field, typed as well
            words = words[:2]
        if len(words) != 2 or not words[1].isdecimal():
            sub.fail("call_ladder", f"line {number}: write a step and its seconds, like sms 60")
            return
        rungs.append({"step": words[0].lower(), "after_s": int(words[1])})
    try:
        ladder_from(rungs)
    except InvalidValue as exc:
        sub.fail("call_ladder", str(exc))
        return
    sub.changes["call_ladder"] = rungs


def minute_bounds(name: str) -> tuple[int, int]:
    """The API's bounds for a duration, so the page accepts exactly what the API accepts."""
    metadata = ConfigBody.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, Ge))
    high = next(m.le for m in metadata if isinstance(m, Le))
    assert isinstance(low, int) and isinstance(high, int)
    return low, high


def wanted_counters(sub: Submission) -> list[Counter]:
    """The counters to keep, as ticked, and the one being added."""
    wanted = [Counter(c.name, c.is_open) for c in sub.counters if not c.remove]
    name = sub.new_counter
    if name:
        if len(name) > MAX_COUNTER_NAME or "\x00" in name:
            sub.fail("new_counter", f"a counter name has 1 to {MAX_COUNTER_NAME} characters")
        elif any(c.name == name for c in sub.counters):
            sub.fail("new_counter", f"there is a counter {name} already")
        else:
            wanted.append(Counter(name, True))
    if not wanted:
        sub.fail("counters", "a queue needs at least one counter")
    return wanted


# -- checking and applying -------------------------------------------------------------------


def check_with_api_schema(sub: Submission) -> None:
    """The API's own request schema, so the page can store nothing the API would refuse."""
    try:
        ConfigBody.model_validate(sub.changes)
    except ValidationError as exc:
        for error in exc.errors():
            loc = str(error["loc"][0]) if error["loc"] else FORM
            name = FIELD_OF.get(loc, loc)
            sub.fail(name, str(error["msg"]))
            sub.changes.pop(loc, None)


def domain_config(sub: Submission, current: QueueConfig) -> QueueConfig | None:
    """Each change alone against the domain's rules (so its error lands on its own field),
    then all of them together."""
    typed = dict(sub.changes)
    if "weights" in typed:
        try:
            typed["weights"] = Weights(**typed["weights"])
        except InvalidValue as exc:
            sub.fail("weights", str(exc))
            del typed["weights"]
    if "mode" in typed:
        typed["mode"] = QueueMode(typed["mode"])
    if "notify_positions" in typed:
        typed["notify_positions"] = tuple(typed["notify_positions"])
    if "call_ladder" in typed:
        typed["call_ladder"] = ladder_from(typed["call_ladder"])
    if typed.get("opening_hours") is not None:
        typed["opening_hours"] = parse_hours(typed["opening_hours"])
    if "closures" in typed:
        typed["closures"] = parse_closures(typed["closures"])
    if "on_close" in typed:
        typed["on_close"] = OnClose(typed["on_close"])
    for name, value in typed.items():
        try:
            dataclasses.replace(current, **{name: value})
        except InvalidValue as exc:
            sub.fail(FIELD_OF.get(name, name), str(exc))
    if sub.errors:
        return None
    try:
        return dataclasses.replace(current, **typed)
    except InvalidValue as exc:
        sub.fail(FORM, str(exc))
        return None


async def apply(queues: QueueService, info: QueueInfo, sub: Submission) -> bool:
    """Counters first: a busy counter that cannot go is refused before anything is written."""
    wanted = wanted_counters(sub)
    check_with_api_schema(sub)
    config = domain_config(sub, info.config)
    if config is None or sub.errors:
        return False
    if [(c.name, c.is_open) for c in wanted] != [(c.name, c.is_open) for c in info.counters]:
        try:
            await queues.update_queue(info.code, None, None, wanted)
        except InvalidValue as exc:
            sub.fail("counters", str(exc))
            return False
    try:
        await queues.put_config(info.code, config)
    except InvalidValue as exc:  # the overflow queue was deleted meanwhile, say
        sub.fail("overflow_queue" if "overflow" in str(exc) else FORM, str(exc))
        return False
    if sub.public_name != info.public_name:
        await queues.set_public_name(info.code, sub.public_name)
    return True


# -- routes ----------------------------------------------------------------------------------


@bp.get(PATH)
@staff_page(ADMIN)
async def settings_form(
    request: Request, code: str, account: StaffAccount, csrf: str
) -> HTTPResponse:
    try:
        info = await service(request).get_queue(code.upper())
    except NotFound:
        return not_found(request, account, csrf, code)
    return await page(request, account, csrf, info)


@bp.post(PATH)
@staff_page(ADMIN)
async def save_settings(
    request: Request, code: str, account: StaffAccount, csrf: str
) -> HTTPResponse:
    queues = service(request)
    try:
        info = await queues.get_queue(code.upper())
    except NotFound:
        return not_found(request, account, csrf, code)
    # Blank fields must come through: an empty capacity means "no limit".
    form = request.get_form(keep_blank_values=True) or RequestParameters()
    others = {q.code for q in await queues.list_queues()} - {info.code}
    sub = read(form, info, others)
    if not await apply(queues, info, sub):
        return await page(request, account, csrf, info, sub, status=422)
    return redirect(f"/console/queues/{info.code}/settings?saved=1", status=303)


@bp.post("/console/queues/<code>/staff")
@staff_page(ADMIN)
async def save_staff(request: Request, code: str, account: StaffAccount, csrf: str) -> HTTPResponse:
    """Who works on the queue: the checked staff and pharmacists (admins work on all)."""
    info = await service(request).get_queue(code.upper())
    form = request.get_form(keep_blank_values=True) or RequestParameters()
    await accounts.set_queue_staff(info.code, [str(n) for n in form.getlist("staff") or []])
    return redirect(f"/console/queues/{info.code}/settings?staff=1", status=303)
