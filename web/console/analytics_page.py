"""The console's analytics page (`/console/analytics`) and its CSV export
(`/console/analytics.csv`), for any staff role.

Both take `queue=CODE&from=YYYY-MM-DD&to=YYYY-MM-DD`: calendar days in the queue's time
zone, both included, by default the last 7 days up to today. The figures come from
`core.services.reports` (the metric definitions of `core.domain.metrics`); the charts are
SVG drawn here on the server by `web.console.charts`, so the page needs no script.

The CSV has one row per visit (a ticket that joined in the range), times in the queue's
time zone with their UTC offset, durations in whole seconds, and never a phone number or
a patient's name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from core.domain.errors import InvalidValue
from core.services import reports
from core.services.queues import QueueInfo
from core.storage.models import StaffAccount
from web.auth import ANY_STAFF, staff_page
from web.console.charts import Series, bar_chart, line_chart
from web.console.routes import base_context
from web.deps import container_of
from web.scope import visible
from web.templating import render

bp = Blueprint("analytics")
CSV_COLUMNS = (
    "number",
    "priority",
    "status",
    "joined_at",
    "called_at",
    "finished_at",
    "counter",
    "wait_s",
    "service_s",
    "called_by",
    "completed_by",
    "rating",
    "sms_segments",
)
PRESETS = (("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90))
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a cell that starts with one of these as a formula (CSV injection)."""


def minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def one_decimal(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def range_label(span: reports.DateRange) -> str:
    """`2 Mar 2026`, `24 Feb - 2 Mar 2026` or `28 Dec 2025 - 3 Jan 2026` (an en dash)."""
    end = f"{span.end.day} {span.end:%b %Y}"
    if span.start == span.end:
        return end
    start = f"{span.start.day} {span.start:%b}"
    if span.start.year != span.end.year:
        start += f" {span.start:%Y}"
    return f"{start} \u2013 {end}"


def charts(report: reports.Report) -> dict[str, Markup]:
    """The page's SVG charts; durations are drawn in minutes, which read best on an axis."""
    tz = report.range.timezone
    hours = [f"{p.key:02d}:00" for p in report.hours]
    drawn = {
        "arrivals": bar_chart(
            hours,
            [p.arrivals for p in report.hours],
            title="Arrivals per hour of day",
            x_label=f"Hour joined ({tz})",
            y_label="Arrivals (visits)",
            unit=" visits",
        ),
        "wait": line_chart(
            hours,
            [
                Series("Average", [minutes(p.wait.avg_s) for p in report.hours]),
                Series("90th percentile", [minutes(p.wait.p90_s) for p in report.hours]),
            ],
            title="Wait by hour of arrival",
            x_label=f"Hour joined ({tz})",
            y_label="Wait (min)",
            unit=" min",
            fmt=one_decimal,
            empty="Nobody was called yet",
        ),
        "service": line_chart(
            hours,
            [
                Series("Average", [minutes(p.service.avg_s) for p in report.hours]),
                Series("90th percentile", [minutes(p.service.p90_s) for p in report.hours]),
            ],
            title="Service time by hour of arrival",
            x_label=f"Hour joined ({tz})",
            y_label="Service time (min)",
            unit=" min",
            fmt=one_decimal,
            empty="No visit was completed yet",
        ),
        "ratings": bar_chart(
            [f"{score} \u2605" for score in reports.RATINGS],
            [report.ratings.distribution[score] for score in reports.RATINGS],
            title="Feedback scores",
            x_label="Score (1 = poor, 5 = excellent)",
            y_label="Ratings",
            unit=" ratings",
            height=220,
        ),
    }
    if report.range.days > 1:
        days = [day_label(p.key) for p in report.days if isinstance(p.key, date)]
        drawn["days"] = line_chart(
            days,
            [
                Series("Average wait", [minutes(p.wait.avg_s) for p in report.days]),
                Series("90th percentile wait", [minutes(p.wait.p90_s) for p in report.days]),
                Series("Average service", [minutes(p.service.avg_s) for p in report.days]),
            ],
            title="Wait and service time per day",
            x_label="Day joined",
            y_label="Minutes",
            unit=" min",
            fmt=one_decimal,
            empty="Nobody was called yet",
        )
    return {name: Markup(svg) for name, svg in drawn.items()}


def presets(code: str, today: date) -> list[dict[str, str]]:
    return [
        {"label": label, "url": page_url(code, today - timedelta(days=days - 1), today)}
        for label, days in PRESETS
    ]


def page_url(code: str, start: date, end: date, path: str = "/console/analytics") -> str:
    query = {"queue": code, "from": start.isoformat(), "to": end.isoformat()}
    return f"{path}?{urlencode(query)}"


async def selected_queue(
    request: Request, queues: Sequence[QueueInfo]
) -> tuple[str, QueueInfo | None]:
    """The queue asked for, else the one with the most tickets in the range asked for."""
    code = request.args.get("queue")
    if not code:
        code = await reports.busiest_queue(
            [q.code for q in queues],
            request.args.get("from"),
            request.args.get("to"),
            container_of(request).clock(),
        )
    code = (code or queues[0].code).strip().upper()
    return code, next((q for q in queues if q.code == code), None)


@bp.get("/console/analytics")
@staff_page(ANY_STAFF)
async def analytics(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    """The page: a queue and date range form, key figures, charts and tables."""
    context: dict[str, Any] = base_context(request, account, csrf, "analytics")
    queues = visible(account, await container_of(request).queues.list_queues())
    context |= {"queues": queues, "error": None, "report": None}
    if not queues:
        return html(render("console/analytics.html", **context))
    code, info = await selected_queue(request, queues)
    context["form"] = {
        "queue": code,
        "from": request.args.get("from") or "",
        "to": request.args.get("to") or "",
    }
    if info is None:
        context["error"] = f"There is no queue with the code {code!r}; pick one from the list."
        return html(render("console/analytics.html", **context), status=404)
    tz = info.config.timezone
    today = reports.local_today(container_of(request).clock(), tz)
    context |= {"queue": info, "timezone": tz, "presets": presets(code, today)}
    try:
        span = reports.parse_range(request.args.get("from"), request.args.get("to"), today, tz)
    except InvalidValue as exc:
        context["error"] = str(exc)
        return html(render("console/analytics.html", **context), status=400)
    report = await reports.queue_report(code, span)
    context["form"] |= {"from": span.start.isoformat(), "to": span.end.isoformat()}
    context |= {
        "report": report,
        "range_label": range_label(span),
        "charts": charts(report),
        "csv_url": page_url(code, span.start, span.end, "/console/analytics.csv"),
    }
    return html(render("console/analytics.html", **context))


def cell(value: str | None) -> str:
    """Text as a spreadsheet shows it, never as a formula it would run."""
    if value is None:
        return ""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def local_iso(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else ""


def whole_seconds(value: float | None) -> str:
    return "" if value is None else str(round(value))


def csv_row(record: reports.VisitRecord, tz: ZoneInfo) -> list[str]:
    visit = record.visit
    return [
        cell(record.number),
        str(record.priority),
        record.status.value,
        local_iso(record.joined_at, tz),
        local_iso(record.called_at, tz),
        local_iso(record.finished_at, tz),
        cell(record.counter),
        whole_seconds(visit.wait_s),
        whole_seconds(visit.service_s),
        cell(record.called_by),
        cell(record.completed_by),
        "" if record.rating is None else str(record.rating),
        str(record.sms_segments or 0),
    ]


def csv_text(records: Sequence[reports.VisitRecord], timezone: str) -> str:
    tz = ZoneInfo(timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(record, tz) for record in records)
    return out.getvalue()


@bp.get("/console/analytics.csv")
@staff_page(ANY_STAFF)
async def analytics_csv(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    """One row per visit of the queue that joined in the range, as a download. Bad input
    gets the API's error shape (422 for a bad range, 404 for an unknown queue)."""
    code = (request.args.get("queue") or "").strip().upper()
    if not code:
        raise InvalidValue("Choose a queue: ?queue=CODE&from=YYYY-MM-DD&to=YYYY-MM-DD")
    tz = await reports.queue_timezone(code)
    today = reports.local_today(container_of(request).clock(), tz)
    span = reports.parse_range(request.args.get("from"), request.args.get("to"), today, tz)
    records = await reports.queue_visits(code, span)
    filename = re.sub(r"[^A-Za-z0-9_-]", "_", f"nextup-{code}-{span.start}-to-{span.end}")
    return HTTPResponse(
        csv_text(records, tz),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.csv"',
            "Cache-Control": "no-store",
        },
    )
