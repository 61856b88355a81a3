"""The analytics page in a real browser: a morning of visits, its figures and charts, a
changed date range, another queue, and the CSV download."""

from __future__ import annotations

import csv
import io
import random
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Page, expect

from core.domain.model import QueueConfig
from core.services.queues import QueueService, new_join_request
from core.storage.models import OutboxMessage
from tests.browser.conftest import log_in, screenshot
from tests.conftest import Api, FakeClock
from web.templating import duration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=4, minutes=10)
"""The clock when the page is opened: visits after this are still waiting."""
STAFF = ("staff:maria", "staff:james", "staff:priya")
NO_SHOWS = {6, 19}
PHONE = "+15551230{:03d}"


@dataclass
class Morning:
    """What the seeding did, to check the page against."""

    joined: int = 0
    waits_s: list[float] = field(default_factory=list)
    services_s: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    no_shows: int = 0
    arrival_hours: set[int] = field(default_factory=set)


@dataclass(order=True)
class Step:
    at: datetime
    order: int
    action: str = field(compare=False)
    patient: int = field(compare=False)
    counter: str = field(compare=False, default="")
    actor: str = field(compare=False, default="")


def plan(rng: random.Random) -> list[Step]:
    """30 arrivals about 7 minutes apart; two counters call in order; services take 5 to
    18 minutes; patients 6 and 19 don't come (marked after 3 minutes)."""
    arrivals, at = [], START
    for _ in range(30):
        arrivals.append(at)
        at += timedelta(minutes=rng.choice((2, 4, 5, 7, 8, 10, 12)))
    free = {"1": START, "2": START + timedelta(minutes=3)}
    steps, order = [], 0
    for n, joined in enumerate(arrivals):
        steps.append(Step(joined, order := order + 1, "join", n))
        counter = min(free, key=lambda c: free[c])
        called = max(joined, free[counter]) + timedelta(minutes=rng.choice((1, 2, 3)))
        actor = rng.choice(STAFF)
        steps.append(Step(called, order := order + 1, "call", n, counter, actor))
        if n in NO_SHOWS:
            done, action = called + timedelta(minutes=3), "no-show"
        else:
            steps.append(Step(called, order := order + 1, "start", n, counter, actor))
            done = called + timedelta(minutes=rng.randint(5, 17), seconds=rng.randint(0, 59))
            action = "complete"
        steps.append(Step(done, order := order + 1, action, n, counter, actor))
        free[counter] = done
    return sorted(steps)


async def seed_morning(queues: QueueService, clock: FakeClock) -> Morning:
    rng = random.Random(20260302)
    morning = Morning()
    ids: dict[int, str] = {}
    joined_at: dict[int, datetime] = {}
    called_at: dict[int, datetime] = {}
    for step in plan(rng):
        if step.at > END:
            break
        clock.now = step.at
        n = step.patient
        if step.action == "join":
            phone = PHONE.format(n) if n % 3 else None
            joined = await queues.join("PHARM", new_join_request(phone=phone), "staff:desk")
            ids[n], joined_at[n] = joined.ticket.id, step.at
            morning.joined += 1
            morning.arrival_hours.add(step.at.hour)
            continue
        await queues.ticket_action(ids[n], step.action, step.actor, counter=step.counter or None)
        if step.action == "call":
            called_at[n] = step.at
            morning.waits_s.append((step.at - joined_at[n]).total_seconds())
        elif step.action == "no-show":
            morning.no_shows += 1
        elif step.action == "complete":
            morning.services_s.append((step.at - called_at[n]).total_seconds())
            if rng.random() < 0.6:
                score = rng.choice((5, 5, 4, 4, 4, 3, 2))
                await queues.on_ticket(
                    ids[n], lambda q, now, t=ids[n], s=score: q.rate(t, s, now, "patient:sms")
                )
                morning.ratings.append(score)
            if n % 3:
                await sms_sent(ids[n], rng.choice((2, 3, 3, 4)), step.at)
    clock.now = END
    return morning


async def sms_sent(ticket_id: str, segments: int, at: datetime) -> None:
    """What the dispatcher records once texts went out by SMS (it has its own tests)."""
    await OutboxMessage.create(
        id=str(uuid.uuid4()),
        idempotency_key=str(uuid.uuid4()),
        ticket_id=ticket_id,
        channel="sms",
        recipient="+15550000000",
        kind="called",
        status="sent",
        next_attempt_at=at,
        created_at=at,
        delivered_to="sms",
        segments=segments,
    )


async def make_queues(queues: QueueService) -> None:
    config = QueueConfig(timezone="Europe/London")
    await queues.create_queue("LAB", "Blood tests", "B", config, ["1"])
    await queues.create_queue("PHARM", "Pharmacy", "A", config, ["1", "2"])


async def test_analytics_page(page: Page, api: Api, queues: QueueService, clock: FakeClock) -> None:
    await make_queues(queues)
    morning = await seed_morning(queues, clock)
    assert morning.joined >= 28 and morning.no_shows == 2

    await log_in(page, api, "staff")
    await page.get_by_role("banner").get_by_role("link", name="Analytics").click()
    await page.wait_for_url("**/console/analytics")
    # The first queue by code is LAB, which has no visits: the page opens on the busiest.
    await expect(page.locator("#an-scope")).to_contain_text("Pharmacy (PHARM)")
    await page.select_option("select[name=queue]", "LAB")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#an-empty")).to_contain_text("No visits in this range")
    await expect(page.locator("svg")).to_have_count(0)

    await page.select_option("select[name=queue]", "PHARM")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#an-scope")).to_have_text(
        "Pharmacy (PHARM) · 24 Feb \u2013 2 Mar 2026 · times in Europe/London"
    )
    await expect(page.locator("#kpi-visits .an-kpi-value")).to_have_text(str(morning.joined))
    await expect(page.locator("#kpi-wait .an-kpi-value")).to_have_text(
        f"{duration(statistics.fmean(morning.waits_s))} avg"
    )
    await expect(page.locator("#kpi-service .an-kpi-value")).to_have_text(
        f"{duration(statistics.fmean(morning.services_s))} avg"
    )
    ended = len(morning.services_s) + morning.no_shows
    await expect(page.locator("#kpi-noshow .an-kpi-value")).to_have_text(
        f"{100 * morning.no_shows / ended:.1f} %"
    )
    await expect(page.locator("#kpi-noshow .an-kpi-note")).to_have_text(
        f"{morning.no_shows} of {ended} visits that ended at a counter"
    )
    await expect(page.locator("#kpi-rating .an-kpi-value")).to_have_text(
        f"{statistics.fmean(morning.ratings):.1f} / 5"
    )

    # Charts: server-drawn SVG with a bar per hour from the first to the last arrival.
    hours = max(morning.arrival_hours) - min(morning.arrival_hours) + 1
    await expect(page.locator("#chart-arrivals svg rect.bar")).to_have_count(hours)
    await expect(page.locator("#chart-arrivals svg > title")).to_have_text(
        "Arrivals per hour of day"
    )
    await expect(page.locator("#chart-wait svg g.series")).to_have_count(2)
    await expect(page.locator("#chart-service svg polyline").first).to_be_visible()
    await expect(page.locator("#chart-days svg")).to_have_count(1)
    await expect(page.locator("#ratings svg rect.bar")).to_have_count(5)
    staff_rows = page.locator("#per-staff tbody tr")
    await expect(staff_rows).to_have_count(3)
    await expect(page.locator("#per-counter tbody tr")).to_have_count(2)
    await screenshot(page, "analytics")

    # Another range: tomorrow has nothing yet...
    await page.fill("input[name=from]", "2026-03-03")
    await page.fill("input[name=to]", "2026-03-04")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#an-empty")).to_contain_text("No visits in this range")
    # ...a backwards range is refused in words, with the form kept to fix it...
    await page.fill("input[name=from]", "2026-03-05")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#an-error")).to_contain_text(
        "The 'From' date must be on or before the 'To' date."
    )
    await expect(page.locator("input[name=from]")).to_have_value("2026-03-05")
    # ...and today alone shows the morning again, now without the per-day chart.
    await page.get_by_role("link", name="Today").click()
    await expect(page.locator("#an-scope")).to_contain_text("Pharmacy (PHARM) · 2 Mar 2026")
    await expect(page.locator("#kpi-visits .an-kpi-value")).to_have_text(str(morning.joined))
    await expect(page.locator("#chart-days")).to_have_count(0)

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await info.value
    assert download.suggested_filename == "nextup-PHARM-2026-03-02-to-2026-03-02.csv"
    text = Path(await download.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
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
    visits = rows[1:]
    assert len(visits) == morning.joined
    assert [v[0] for v in visits] == [f"A-{n:03d}" for n in range(1, morning.joined + 1)]
    assert sum(v[2] == "no_show" for v in visits) == morning.no_shows
    assert sorted(int(v[7]) for v in visits if v[7]) == sorted(round(w) for w in morning.waits_s)
    assert sorted(int(v[8]) for v in visits if v[8]) == sorted(round(s) for s in morning.services_s)
    assert sorted(int(v[11]) for v in visits if v[11]) == sorted(morning.ratings)
    assert {v[9] for v in visits if v[9]} <= set(STAFF)
    assert visits[0][3] == "2026-03-02T09:00:00+00:00"
    assert "+1555" not in text


async def test_analytics_needs_a_login(page: Page, api: Api) -> None:
    for path in ("/console/analytics", "/console/analytics.csv?queue=PHARM"):
        await page.goto(f"{api.base_url}{path}")
        await page.wait_for_url(f"{api.base_url}/console/login?next=**")
        await expect(page.locator("input[name=password]")).to_be_visible()
