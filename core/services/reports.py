"""Analytics: over a range of calendar days in the queue's time zone (the console's
analytics page and its CSV export), over the last N days (`analytics`, the API's), and the
hourly rows.

The figures use the definitions of `core.domain.metrics` (wait = join -> call, service =
call -> done, the no-show rate over tickets that ended at a counter), the same for a date
range and for the last N days. A visit belongs to the day (and hour) it joined, in the
queue's time zone. The queries are in `core.storage.reporting`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.domain.errors import InvalidValue
from core.domain.metrics import Visit, distribution, summarise
from core.domain.model import TicketStatus
from core.storage import reporting
from core.storage.models import HourlyMetric, TicketRow
from core.storage.queues import queue_row

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 7
CALLED, COMPLETED = "ticket_called", "ticket_completed"
STAFF_PREFIX = "staff:"
RATINGS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class DateRange:
    """Calendar days `start` to `end`, both included, in `timezone`."""

    start: date
    end: date
    timezone: str = "UTC"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[first local midnight, the midnight after the last day) as UTC instants."""
        tz = ZoneInfo(self.timezone)
        first = datetime.combine(self.start, time(), tzinfo=tz)
        after = datetime.combine(self.end + timedelta(days=1), time(), tzinfo=tz)
        return first.astimezone(UTC), after.astimezone(UTC)


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def parse_day(text: str, name: str) -> date:
    """A day of a report's range: one that can have visits, with room either side for the
    arithmetic of a range and its time zone (0001-01-01 or 9999-12-31 would overflow)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidValue(f"The {name} date must look like 2026-03-02, not {text!r}.") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidValue(f"The {name} date must be between {FIRST_DAY} and {LAST_DAY}.")
    return day


def parse_range(
    start_text: str | None, end_text: str | None, today: date, timezone: str = "UTC"
) -> DateRange:
    """From the page's or CSV link's `from`/`to`; a missing end is today, a missing start
    the last `DEFAULT_RANGE_DAYS` days up to the end. Raises InvalidValue with a message
    a person can act on."""
    end = parse_day(end_text, "'To'") if end_text else today
    start = (
        parse_day(start_text, "'From'")
        if start_text
        else end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    )
    if start > end:
        raise InvalidValue("The 'From' date must be on or before the 'To' date.")
    span = (end - start).days + 1
    if span > MAX_RANGE_DAYS:
        raise InvalidValue(
            f"The range covers {span} days; one report covers at most {MAX_RANGE_DAYS} days."
        )
    return DateRange(start, end, timezone)


@dataclass(frozen=True)
class VisitRecord:
    """One ticket that joined in the range: what the CSV exports (never a phone number)."""

    ticket_id: str
    number: str
    priority: int
    status: TicketStatus
    joined_at: datetime
    called_at: datetime | None
    finished_at: datetime | None
    counter: str | None
    rating: int | None
    called_by: str | None = None
    """The actor of the last call (the one that led to how the visit ended)."""
    completed_by: str | None = None
    sms_segments: int | None = None
    """None when no SMS went out for the visit."""

    @property
    def visit(self) -> Visit:
        return Visit(self.joined_at, self.status, self.called_at, self.finished_at, self.counter)


@dataclass(frozen=True)
class Spread:
    """Average and 90th percentile of some durations, in seconds; None when there are none."""

    count: int
    avg_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(0, None, None)
        figures = distribution(values)
        return cls(len(values), figures["avg"], figures["p90"])


@dataclass(frozen=True)
class Period:
    """The visits that joined in one hour of the day, or on one day."""

    key: int | date
    arrivals: int
    wait: Spread
    service: Spread


@dataclass(frozen=True)
class ActorFigures:
    """What one actor did: a staff member (`staff:<name>`) or a patient, bot or system."""

    actor: str
    called: int = 0
    completed: int = 0
    no_shows: int = 0
    avg_service_s: float | None = None

    @property
    def label(self) -> str:
        return self.actor.removeprefix(STAFF_PREFIX)

    @property
    def is_staff(self) -> bool:
        return self.actor.startswith(STAFF_PREFIX)


@dataclass(frozen=True)
class Ratings:
    count: int
    average: float | None
    distribution: dict[int, int]
    """Score (1-5) -> how many visits gave it; every score present."""


@dataclass(frozen=True)
class Report:
    code: str
    name: str
    range: DateRange
    summary: dict[str, Any]
    """`core.domain.metrics.summarise` over the range: totals, wait_s, service_s,
    no_show_rate, per_hour, per_counter (the same shape as the analytics API)."""
    hours: list[Period]
    """Per hour of the day (local), from the first to the last hour anyone joined."""
    days: list[Period]
    """Per day of the range, days without visits included."""
    actors: list[ActorFigures]
    ratings: Ratings
    sms: dict[str, Any]
    """`{visits, segments, segments_per_visit}` as `sms_cost`."""
    visits: list[VisitRecord] = field(repr=False)

    @property
    def is_empty(self) -> bool:
        return not self.visits

    @property
    def called_count(self) -> int:
        """Visits with a wait (called at least once)."""
        return sum(1 for r in self.visits if r.called_at is not None)


# -- pure figures -----------------------------------------------------------------------------


def periods(
    records: Iterable[VisitRecord], key_of: Any, keys: Sequence[int | date]
) -> list[Period]:
    grouped: dict[int | date, list[Visit]] = defaultdict(list)
    for record in records:
        grouped[key_of(record)].append(record.visit)
    return [
        Period(
            key,
            len(grouped[key]),
            Spread.of([w for v in grouped[key] if (w := v.wait_s) is not None]),
            Spread.of([s for v in grouped[key] if (s := v.service_s) is not None]),
        )
        for key in keys
    ]


def hour_periods(records: Sequence[VisitRecord], timezone: str) -> list[Period]:
    tz = ZoneInfo(timezone)

    def hour(record: VisitRecord) -> int:
        return record.joined_at.astimezone(tz).hour

    hours = [hour(r) for r in records]
    keys: list[int | date] = list(range(min(hours), max(hours) + 1)) if hours else []
    return periods(records, hour, keys)


def day_periods(records: Sequence[VisitRecord], span: DateRange) -> list[Period]:
    tz = ZoneInfo(span.timezone)
    keys: list[int | date] = list(span.each_day())
    return periods(records, lambda r: r.joined_at.astimezone(tz).date(), keys)


def actor_figures(records: Sequence[VisitRecord]) -> list[ActorFigures]:
    """Per actor: visits called (last call), completed, called but no-show, and the
    average service time of the visits they completed. Staff first, busiest first."""
    called: dict[str, int] = defaultdict(int)
    no_shows: dict[str, int] = defaultdict(int)
    services: dict[str, list[float]] = defaultdict(list)
    completed: dict[str, int] = defaultdict(int)
    for r in records:
        if r.called_by:
            called[r.called_by] += 1
            if r.status is TicketStatus.NO_SHOW:
                no_shows[r.called_by] += 1
        if r.completed_by:
            completed[r.completed_by] += 1
            if (s := r.visit.service_s) is not None:
                services[r.completed_by].append(s)
    figures = [
        ActorFigures(
            actor,
            called[actor],
            completed[actor],
            no_shows[actor],
            statistics.fmean(services[actor]) if services[actor] else None,
        )
        for actor in set(called) | set(completed)
    ]
    return sorted(figures, key=lambda f: (not f.is_staff, -f.completed, -f.called, f.actor))


def rating_figures(records: Iterable[VisitRecord]) -> Ratings:
    scores = [r.rating for r in records if r.rating is not None]
    return Ratings(
        len(scores),
        statistics.fmean(scores) if scores else None,
        {score: scores.count(score) for score in RATINGS},
    )


# -- loading ----------------------------------------------------------------------------------


def visit_of(row: TicketRow) -> Visit:
    return Visit(
        row.joined_at, TicketStatus(row.status), row.called_at, row.finished_at, row.counter
    )


async def visit_records(queue_id: int, start: datetime, end: datetime) -> list[VisitRecord]:
    """The tickets that joined in [start, end), oldest first, with who called and
    completed them and the SMS segments each cost."""
    rows = await reporting.tickets_joined(queue_id, start, end)
    actors = await reporting.latest_actors(queue_id, start, end, (CALLED, COMPLETED))
    segments = await reporting.sms_segments(queue_id, start, end)
    return [
        VisitRecord(
            ticket_id=r.id,
            number=r.number,
            priority=r.priority,
            status=TicketStatus(r.status),
            joined_at=r.joined_at,
            called_at=r.called_at,
            finished_at=r.finished_at,
            counter=r.counter,
            rating=r.rating,
            called_by=actors.get(r.id, {}).get(CALLED),
            completed_by=actors.get(r.id, {}).get(COMPLETED),
            sms_segments=segments.get(r.id),
        )
        for r in rows
    ]


async def busiest_queue(
    codes: Sequence[str], start_text: str | None, end_text: str | None, now: datetime
) -> str | None:
    """Of `codes`, the queue with the most tickets joined in the range the page was asked
    for (each queue's own days), so the page opens on figures; None when all are empty."""
    counts: dict[str, int] = {}
    for code in codes:
        timezone = await queue_timezone(code)
        try:
            span = parse_range(start_text, end_text, local_today(now, timezone), timezone)
        except InvalidValue:
            return None
        counts[code] = await reporting.count_joined(code, *span.bounds())
    busiest = max(codes, key=lambda c: counts[c], default=None)
    return busiest if busiest is not None and counts[busiest] else None


async def queue_timezone(code: str) -> str:
    _, timezone = await reporting.queue_and_timezone(code)
    return timezone


async def queue_visits(code: str, span: DateRange) -> list[VisitRecord]:
    """The visits of one queue that joined in `span` (the CSV export's rows)."""
    row = await queue_row(code)
    return await visit_records(row.id, *span.bounds())


async def queue_report(code: str, span: DateRange) -> Report:
    """Every figure of the analytics page for one queue over `span`."""
    row = await queue_row(code)
    start, end = span.bounds()
    records = await visit_records(row.id, start, end)
    segments = {r.ticket_id: r.sms_segments for r in records if r.sms_segments is not None}
    return Report(
        code=row.code,
        name=row.name,
        range=span,
        summary=summarise([r.visit for r in records], span.timezone),
        hours=hour_periods(records, span.timezone),
        days=day_periods(records, span),
        actors=actor_figures(records),
        ratings=rating_figures(records),
        sms=sms_figures(segments),
        visits=records,
    )


async def analytics(code: str, days: int, now: datetime) -> dict[str, Any]:
    """Figures over the tickets that joined in the last `days` days."""
    if not 1 <= days <= MAX_RANGE_DAYS:
        raise InvalidValue("days must be between 1 and 366")
    row, timezone = await reporting.queue_and_timezone(code)
    since = now - timedelta(days=days)
    visits = [visit_of(r) for r in await reporting.tickets_joined(row.id, since)]
    return {
        "code": code,
        "days": days,
        "since": since.isoformat(),
        **summarise(visits, timezone),
        "sms": await sms_cost(row.id, since),
    }


async def sms_cost(queue_id: int, since: datetime) -> dict[str, Any]:
    """SMS segments billed for the visits that joined since `since` (replies to the
    patients' texts included), and per visit that used SMS at all."""
    return sms_figures(await reporting.sms_segments(queue_id, since))


def sms_figures(segments_by_visit: dict[str, int]) -> dict[str, Any]:
    total = sum(segments_by_visit.values())
    visits = len(segments_by_visit)
    return {
        "visits": visits,
        "segments": total,
        "segments_per_visit": round(total / visits, 2) if visits else None,
    }


async def hourly_metrics(code: str, start: datetime, end: datetime) -> list[HourlyMetric]:
    if end <= start:
        raise InvalidValue("until must be after since")
    row = await queue_row(code)
    return await reporting.hourly_rows(row.id, start, end)


# -- the daily summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class DailySummary:
    """One queue's local day (the visits that joined that day, as the analytics count
    them): what the admin chats get after it, `nextup report` prints and
    `GET /api/v1/queues/{code}/report` answers."""

    code: str
    name: str
    day: date
    timezone: str
    visits: int
    completed: int
    no_shows: int
    cancelled: int
    mean_wait_s: float | None
    p90_wait_s: float | None
    average_rating: float | None
    ratings: int
    sms_segments: int
    failed_notifications: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "day": self.day.isoformat(),
            "timezone": self.timezone,
            "visits": self.visits,
            "completed": self.completed,
            "no_shows": self.no_shows,
            "cancelled": self.cancelled,
            "mean_wait_s": self.mean_wait_s,
            "p90_wait_s": self.p90_wait_s,
            "average_rating": self.average_rating,
            "ratings": self.ratings,
            "sms_segments": self.sms_segments,
            "failed_notifications": self.failed_notifications,
        }


async def daily_summary(code: str, day: date) -> DailySummary:
    """The summary of `day` for the queue, from the figures of the analytics report."""
    timezone = await queue_timezone(code)
    span = DateRange(day, day, timezone)
    report = await queue_report(code, span)
    row = await queue_row(code)
    totals = report.summary["totals"]
    [period] = report.days  # the one day: its wait's spread (None when nobody was called)
    return DailySummary(
        code=report.code,
        name=report.name,
        day=day,
        timezone=timezone,
        visits=totals["joined"],
        completed=totals["completed"],
        no_shows=totals["no_shows"],
        cancelled=totals["cancelled"],
        mean_wait_s=period.wait.avg_s,
        p90_wait_s=period.wait.p90_s,
        average_rating=report.ratings.average,
        ratings=report.ratings.count,
        sms_segments=report.sms["segments"],
        failed_notifications=await reporting.failed_notifications(row.id, *span.bounds()),
    )
