"""The analytics report over a date range (core.services.reports) and the console routes
that show it (/console/analytics) and export it (/console/analytics.csv)."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from core.domain.errors import InvalidValue
from core.domain.model import QueueConfig, TicketStatus
from core.services import reports
from core.services.queues import QueueService, new_join_request
from core.services.reports import DateRange, analytics, parse_range, sms_cost
from core.storage.models import OutboxMessage, QueueRow
from nextup.wiring import Container
from tests.conftest import Api, FakeClock
from tests.web.sessions import console_client

TZ = "Europe/Madrid"
"""UTC+1 in early March: 09:00 UTC is 10:00 local, and 23:30 UTC on 1 March is already
2 March there."""
MARCH_2 = DateRange(date(2026, 3, 2), date(2026, 3, 2), TZ)
PHONE = "+15551230001"


@dataclass
class Seeded:
    ids: dict[str, str]


async def join(queues: QueueService, **fields: object) -> str:
    joined = await queues.join("PHARM", new_join_request(**fields), "staff:desk")
    return joined.ticket.id


async def act(queues: QueueService, ticket_id: str, action: str, actor: str, **kw: str) -> None:
    await queues.ticket_action(ticket_id, action, actor, **kw)


async def rate(queues: QueueService, ticket_id: str, score: int) -> None:
    await queues.on_ticket(ticket_id, lambda q, now: q.rate(ticket_id, score, now, "patient:sms"))


async def sms_sent(ticket_id: str, segments: int, delivered_to: str = "sms") -> None:
    """What the dispatcher records once a text went out (the dispatcher has its own tests)."""
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    await OutboxMessage.create(
        id=str(uuid.uuid4()),
        idempotency_key=str(uuid.uuid4()),
        ticket_id=ticket_id,
        channel="sms",
        recipient=PHONE,
        kind="called",
        status="sent",
        next_attempt_at=now,
        created_at=now,
        delivered_to=delivered_to,
        segments=segments,
    )


async def a_day(container: Container, clock: FakeClock) -> Seeded:
    """Seven visits in Europe/Madrid (times below in UTC).

    1 Mar 22:30  t0a joins (23:30 local, 1 March), cancelled          - outside 2 March
    1 Mar 23:30  t0b joins (00:30 local, 2 March), cancelled
    09:00 t1, t2 join; 09:05 t3 joins, alice calls t1 at 1 (wait 300), starts it
    09:10 alice completes t1 (service 300); bob calls t2 at 2 (wait 600), starts it
    09:20 carol completes t2 (service 600); alice calls t3 at 1 (wait 900)
    09:25 alice marks t3 no-show
    10:05 t4, t5 join; t5 cancels
    10:10 a system actor calls t4 at 2 (wait 300), starts it; 10:30 completes it (1200)
    Ratings: t1 5, t2 4, t4 4. SMS: t1 2+1 segments, t4 1; t0a 5 (outside); t2 one
    message to the dev inbox (not billed).
    """
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(timezone=TZ), ["1", "2"])
    ids: dict[str, str] = {}
    clock.now = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    ids["t0a"] = await join(queues)
    await act(queues, ids["t0a"], "cancel", "patient:sms")
    clock.now = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    ids["t0b"] = await join(queues)
    await act(queues, ids["t0b"], "cancel", "patient:sms")
    clock.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ids["t1"] = await join(queues, name="Ana Lopez", phone=PHONE)
    ids["t2"] = await join(queues)
    clock.advance(minutes=5)
    ids["t3"] = await join(queues)
    await act(queues, ids["t1"], "call", "staff:alice", counter="1")
    await act(queues, ids["t1"], "start", "staff:alice")
    clock.advance(minutes=5)
    await act(queues, ids["t1"], "complete", "staff:alice")
    await act(queues, ids["t2"], "call", "staff:bob", counter="2")
    await act(queues, ids["t2"], "start", "staff:bob")
    clock.advance(minutes=10)
    await act(queues, ids["t2"], "complete", "staff:carol")
    await act(queues, ids["t3"], "call", "staff:alice", counter="1")
    clock.advance(minutes=5)
    await act(queues, ids["t3"], "no-show", "staff:alice")
    clock.advance(minutes=40)
    ids["t4"] = await join(queues)
    ids["t5"] = await join(queues)
    await act(queues, ids["t5"], "cancel", "patient:sms")
    clock.advance(minutes=5)
    await act(queues, ids["t4"], "call", "system:kiosk", counter="2")
    await act(queues, ids["t4"], "start", "system:kiosk")
    clock.advance(minutes=20)
    await act(queues, ids["t4"], "complete", "system:kiosk")
    for name, score in (("t1", 5), ("t2", 4), ("t4", 4)):
        await rate(queues, ids[name], score)
    for name, segments in (("t1", 2), ("t1", 1), ("t4", 1), ("t0a", 5)):
        await sms_sent(ids[name], segments)
    await sms_sent(ids["t2"], 1, delivered_to="dev_inbox")
    return Seeded(ids)


# -- the date range -------------------------------------------------------------------------


TODAY = date(2026, 3, 2)


def test_default_range_is_the_last_seven_days_up_to_today() -> None:
    assert parse_range(None, None, TODAY, TZ) == DateRange(date(2026, 2, 24), TODAY, TZ)
    assert parse_range("", "", TODAY) == DateRange(date(2026, 2, 24), TODAY)
    assert parse_range(None, "2026-01-10", TODAY) == DateRange(date(2026, 1, 4), date(2026, 1, 10))
    assert parse_range("2026-03-01", None, TODAY) == DateRange(date(2026, 3, 1), TODAY)


def test_a_range_of_one_day_and_of_366_days_is_fine() -> None:
    assert parse_range("2026-03-02", "2026-03-02", TODAY).days == 1
    assert parse_range("2025-03-02", "2026-03-02", TODAY).days == 366


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-03-03", "2026-03-02", "The 'From' date must be on or before the 'To' date."),
        (
            "2025-03-01",
            "2026-03-02",
            "The range covers 367 days; one report covers at most 366 days.",
        ),
        ("yesterday", "2026-03-02", "The 'From' date must look like 2026-03-02, not 'yesterday'."),
        ("2026-03-01", "2026-02-30", "The 'To' date must look like 2026-03-02, not '2026-02-30'."),
    ],
)
def test_a_bad_range_says_what_is_wrong(start: str, end: str, message: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_range(start, end, TODAY)
    assert str(raised.value) == message


def test_a_day_is_local_midnight_to_midnight_even_when_the_clocks_change() -> None:
    assert MARCH_2.bounds() == (
        datetime(2026, 3, 1, 23, tzinfo=UTC),
        datetime(2026, 3, 2, 23, tzinfo=UTC),
    )
    # Summer time starts in Madrid on 29 March 2026: that day has 23 hours.
    start, end = DateRange(date(2026, 3, 29), date(2026, 3, 29), TZ).bounds()
    assert end - start == timedelta(hours=23)


def test_today_is_the_queue_s_local_day() -> None:
    assert reports.local_today(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), TZ) == TODAY
    assert reports.local_today(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "UTC") == date(2026, 3, 1)


# -- the figures ----------------------------------------------------------------------------


async def test_report_figures_over_one_local_day(container: Container, clock: FakeClock) -> None:
    seeded = await a_day(container, clock)
    report = await reports.queue_report("PHARM", MARCH_2)
    assert (report.code, report.name) == ("PHARM", "Pharmacy")
    s = report.summary
    assert s["totals"] == {
        "joined": 6,
        "completed": 3,
        "no_shows": 1,
        "cancelled": 2,
        "closed": 0,
        "in_progress": 0,
    }
    # waits 300, 600, 900, 300; services 300, 600, 1200
    assert s["wait_s"] == {"avg": 525.0, "p50": 450.0, "p90": pytest.approx(810.0), "max": 900.0}
    assert s["service_s"] == {
        "avg": 700.0,
        "p50": 600.0,
        "p90": pytest.approx(1080.0),
        "max": 1200.0,
    }
    assert s["no_show_rate"] == 0.25
    assert s["per_counter"] == [
        {"counter": "1", "served": 1, "avg_service_s": 300.0},
        {"counter": "2", "served": 2, "avg_service_s": 900.0},
    ]
    assert report.called_count == 4
    assert [r.ticket_id for r in report.visits] == [
        seeded.ids[n] for n in ("t0b", "t1", "t2", "t3", "t4", "t5")
    ]


async def test_hours_are_local_and_zero_filled(container: Container, clock: FakeClock) -> None:
    await a_day(container, clock)
    report = await reports.queue_report("PHARM", MARCH_2)
    assert [p.key for p in report.hours] == list(range(12))
    assert [p.arrivals for p in report.hours] == [1] + [0] * 9 + [3, 2]
    ten, eleven = report.hours[10], report.hours[11]
    assert ten.wait == reports.Spread(3, 600.0, pytest.approx(840.0))  # type: ignore[arg-type]
    assert ten.service == reports.Spread(2, 450.0, pytest.approx(570.0))  # type: ignore[arg-type]
    assert eleven.wait == reports.Spread(1, 300.0, 300.0)
    assert eleven.service == reports.Spread(1, 1200.0, 1200.0)
    assert report.hours[0].wait == reports.Spread(0, None, None)
    # The same arrivals and average waits as summarise()'s own per-hour figures.
    assert report.summary["per_hour"] == [
        {"hour": p.key, "arrivals": p.arrivals, "avg_wait_s": p.wait.avg_s or 0.0}
        for p in report.hours
        if p.arrivals
    ]


async def test_days_cover_the_whole_range(container: Container, clock: FakeClock) -> None:
    await a_day(container, clock)
    span = DateRange(date(2026, 2, 28), date(2026, 3, 3), TZ)
    report = await reports.queue_report("PHARM", span)
    assert [(p.key, p.arrivals) for p in report.days] == [
        (date(2026, 2, 28), 0),
        (date(2026, 3, 1), 1),
        (date(2026, 3, 2), 6),
        (date(2026, 3, 3), 0),
    ]
    assert report.days[2].wait.avg_s == 525.0
    assert report.days[1].wait == reports.Spread(0, None, None)
    assert report.summary["totals"]["joined"] == 7


async def test_who_called_and_completed(container: Container, clock: FakeClock) -> None:
    seeded = await a_day(container, clock)
    report = await reports.queue_report("PHARM", MARCH_2)
    assert report.actors == [
        reports.ActorFigures("staff:alice", called=2, completed=1, no_shows=1, avg_service_s=300.0),
        reports.ActorFigures("staff:carol", called=0, completed=1, no_shows=0, avg_service_s=600.0),
        reports.ActorFigures("staff:bob", called=1, completed=0, no_shows=0, avg_service_s=None),
        reports.ActorFigures("system:kiosk", called=1, completed=1, avg_service_s=1200.0),
    ]
    assert [(a.label, a.is_staff) for a in report.actors] == [
        ("alice", True),
        ("carol", True),
        ("bob", True),
        ("system:kiosk", False),
    ]
    t2 = next(r for r in report.visits if r.ticket_id == seeded.ids["t2"])
    assert (t2.called_by, t2.completed_by) == ("staff:bob", "staff:carol")


async def test_ratings_and_sms(container: Container, clock: FakeClock) -> None:
    await a_day(container, clock)
    report = await reports.queue_report("PHARM", MARCH_2)
    assert report.ratings == reports.Ratings(
        3,
        pytest.approx(13 / 3),
        {1: 0, 2: 0, 3: 0, 4: 2, 5: 1},  # type: ignore[arg-type]
    )
    assert report.sms == {"visits": 2, "segments": 4, "segments_per_visit": 2.0}
    # The same figure as the API's sms_cost over the same visits (it has no end bound,
    # and nobody joined after 2 March).
    queue = await QueueRow.get(code="PHARM")
    assert report.sms == await sms_cost(queue.id, MARCH_2.bounds()[0])
    wider = await reports.queue_report("PHARM", DateRange(date(2026, 3, 1), TODAY, TZ))
    assert wider.sms == {"visits": 3, "segments": 9, "segments_per_visit": 3.0}


async def test_same_figures_as_the_analytics_api(container: Container, clock: FakeClock) -> None:
    """Over the same visits, the date-range report and `analytics(days=)` agree."""
    await a_day(container, clock)
    api_figures = await analytics("PHARM", 7, clock.now)
    report = await reports.queue_report("PHARM", DateRange(date(2026, 2, 24), TODAY, TZ))
    for key in ("totals", "wait_s", "service_s", "no_show_rate", "per_hour", "per_counter"):
        assert report.summary[key] == api_figures[key], key
    assert report.sms == api_figures["sms"]


async def test_an_empty_range(container: Container, clock: FakeClock) -> None:
    await a_day(container, clock)
    report = await reports.queue_report("PHARM", DateRange(date(2026, 3, 3), date(2026, 3, 9), TZ))
    assert report.is_empty and report.called_count == 0
    assert report.hours == [] and report.actors == []
    assert [p.arrivals for p in report.days] == [0] * 7
    assert report.ratings == reports.Ratings(0, None, {1: 0, 2: 0, 3: 0, 4: 0, 5: 0})
    assert report.sms == {"visits": 0, "segments": 0, "segments_per_visit": None}
    assert report.summary["no_show_rate"] == 0.0


async def test_visit_records_keep_the_status(container: Container, clock: FakeClock) -> None:
    await a_day(container, clock)
    records = await reports.queue_visits("PHARM", MARCH_2)
    assert [r.status for r in records] == [
        TicketStatus.CANCELLED,
        TicketStatus.DONE,
        TicketStatus.DONE,
        TicketStatus.NO_SHOW,
        TicketStatus.DONE,
        TicketStatus.CANCELLED,
    ]
    assert [r.sms_segments for r in records] == [None, 3, None, None, 1, None]


# -- the routes -----------------------------------------------------------------------------


async def test_routes_need_a_session(api: Api) -> None:
    async with console_client(api, None) as client:
        for path in ("/console/analytics?queue=PHARM", "/console/analytics.csv?queue=PHARM"):
            response = await client.get(path)
            assert response.status_code == 302, response.text
            assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2F")
        # A bearer token is for the API, not for console pages.
        response = await client.get("/console/analytics.csv", headers=api.auth("admin"))
        assert response.status_code == 302


@pytest.mark.parametrize("role", ["staff", "pharmacist", "admin"])
async def test_every_staff_role_sees_the_page(api: Api, clock: FakeClock, role: str) -> None:
    await a_day(api.app.ctx.container, clock)
    async with console_client(api, role) as client:
        page = await client.get(
            "/console/analytics",
            params={"queue": "pharm", "from": "2026-03-02", "to": "2026-03-02"},
        )
    assert page.status_code == 200, page.text
    text = page.text
    assert "Pharmacy (PHARM) · 2 Mar 2026 · times in Europe/Madrid" in text
    assert text.count("<svg") >= 4
    assert "25.0 %" in text  # the no-show rate
    assert "9 min <small>avg</small>" in text  # wait 525 s
    assert "12 min <small>avg</small>" in text  # service 700 s
    assert "4.3 <small>/ 5</small>" in text
    assert "2.0 <small>segments/visit</small>" in text
    assert 'href="/console/analytics.csv?queue=PHARM&amp;from=2026-03-02&amp;to=2026-03-02"' in text
    assert PHONE not in text and "Ana Lopez" not in text


async def test_page_defaults_to_the_first_queue_and_the_last_seven_days(
    api: Api, clock: FakeClock
) -> None:
    await a_day(api.app.ctx.container, clock)
    async with console_client(api, "staff") as client:
        page = await client.get("/console/analytics")
    assert page.status_code == 200
    assert 'name="from" value="2026-02-24"' in page.text
    assert 'name="to" value="2026-03-02"' in page.text
    assert "24 Feb \u2013 2 Mar 2026" in page.text


async def test_page_opens_on_the_busiest_queue_of_the_range(api: Api, clock: FakeClock) -> None:
    container = api.app.ctx.container
    # "AAA" comes first in the list, and is empty
    await container.queues.create_queue("AAA", "Annex", "N", QueueConfig(), ["1"])
    await a_day(container, clock)
    async with console_client(api, "staff") as client:
        page = await client.get("/console/analytics")
        assert page.status_code == 200
        assert "Pharmacy (PHARM) ·" in page.text
        assert "9 segments over 3 visits by SMS" in page.text  # counted words: the catalogue's
        # a range in which every queue is empty: the first one, as before
        empty = await client.get(
            "/console/analytics", params={"from": "2026-01-01", "to": "2026-01-31"}
        )
        assert "Annex (AAA) ·" in empty.text


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"from": "2026-03-05", "to": "2026-03-01"}, 400, "must be on or before"),
        ({"from": "2024-01-01", "to": "2026-03-01"}, 400, "at most 366 days"),
        ({"from": "01/03/2026"}, 400, "must look like 2026-03-02"),
        ({"queue": "NOPE"}, 404, "There is no queue with the code"),
    ],
)
async def test_page_shows_a_bad_range_instead_of_failing(
    api: Api, clock: FakeClock, query: dict[str, str], status: int, message: str
) -> None:
    await a_day(api.app.ctx.container, clock)
    async with console_client(api, "staff") as client:
        page = await client.get("/console/analytics", params={"queue": "PHARM"} | query)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="an-error"' in page.text and message in page.text
    assert '<select name="queue">' in page.text  # the form is there to fix it


async def test_page_empty_states(api: Api, clock: FakeClock) -> None:
    async with console_client(api, "staff") as client:
        assert "No queues yet" in (await client.get("/console/analytics")).text
        await a_day(api.app.ctx.container, clock)
        page = await client.get(
            "/console/analytics", params={"from": "2026-03-03", "to": "2026-03-04"}
        )
    assert page.status_code == 200
    assert "No visits in this range" in page.text
    assert "<svg" not in page.text


async def test_csv_has_one_row_per_visit_and_no_phone(api: Api, clock: FakeClock) -> None:
    await a_day(api.app.ctx.container, clock)
    async with console_client(api, "pharmacist") as client:
        response = await client.get(
            "/console/analytics.csv",
            params={"queue": "PHARM", "from": "2026-03-02", "to": "2026-03-02"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="nextup-PHARM-2026-03-02-to-2026-03-02.csv"'
    )
    assert PHONE not in response.text and "Ana Lopez" not in response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
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
    ]
    assert [r["status"] for r in rows] == [
        "cancelled",
        "done",
        "done",
        "no_show",
        "done",
        "cancelled",
    ]
    t2 = rows[2]
    assert t2 == {
        "number": t2["number"],
        "priority": "0",
        "status": "done",
        "joined_at": "2026-03-02T10:00:00+01:00",
        "called_at": "2026-03-02T10:10:00+01:00",
        "finished_at": "2026-03-02T10:20:00+01:00",
        "counter": "2",
        "wait_s": "600",
        "service_s": "600",
        "called_by": "staff:bob",
        "completed_by": "staff:carol",
        "rating": "4",
        "sms_segments": "0",
    }
    assert [r["wait_s"] for r in rows] == ["", "300", "600", "900", "300", ""]
    assert [r["service_s"] for r in rows] == ["", "300", "600", "", "1200", ""]
    assert [r["sms_segments"] for r in rows] == ["0", "3", "0", "0", "1", "0"]


async def test_csv_bad_input_gets_the_api_error_shape(api: Api, clock: FakeClock) -> None:
    await a_day(api.app.ctx.container, clock)
    async with console_client(api, "staff") as client:
        bad_range = await client.get(
            "/console/analytics.csv",
            params={"queue": "PHARM", "from": "2026-03-05", "to": "2026-03-01"},
        )
        unknown = await client.get("/console/analytics.csv", params={"queue": "NOPE"})
        missing = await client.get("/console/analytics.csv")
    assert bad_range.status_code == 422
    assert bad_range.json()["error"]["code"] == "invalid_value"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "queue_not_found"
    assert missing.status_code == 422


def test_csv_cells_never_start_a_formula() -> None:
    from web.console.analytics_page import cell

    assert [cell("=HYPERLINK(1)"), cell("+1"), cell("@x"), cell("A-001"), cell(None)] == [
        "'=HYPERLINK(1)",
        "'+1",
        "'@x",
        "A-001",
        "",
    ]
