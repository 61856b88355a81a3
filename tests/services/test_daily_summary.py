"""The daily summary on the real storage (SQLite, PostgreSQL): its figures, and its sending
to the linked admin chats once per queue and day, after closing (local midnight without
hours), however many processes look."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from core.domain.hours import parse_hours
from core.domain.model import QueueConfig
from core.services import accounts
from core.services.daily_summary import DailySummaries
from core.services.queues import QueueService, new_join_request
from core.services.reports import daily_summary
from core.storage.models import DailyReportRow, OutboxMessage, StaffAccount
from nextup.wiring import Container
from tests.conftest import FakeClock

DAY = date(2026, 3, 2)


async def a_day(queues: QueueService, clock: FakeClock) -> None:
    """On 2 March: two walk-ins at 09:00, one called after 10 min and served (rated 4),
    one called after 20 min who never came; at 09:05 one who left and an SMS patient still
    waiting at midnight; its texts of 2 segments each, and a failed message."""
    await queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
    first = await queues.join("PHARM", new_join_request(), "staff")
    second = await queues.join("PHARM", new_join_request(telegram_chat_id=777), "staff")
    clock.advance(minutes=5)
    left = await queues.join("PHARM", new_join_request(), "staff")
    await queues.join("PHARM", new_join_request(phone="+15550007001"), "staff")
    await queues.ticket_action(left.ticket.id, "cancel", "staff")
    clock.advance(minutes=5)
    await queues.call_next("PHARM", "1", "staff")
    clock.advance(minutes=5)
    served = first.ticket.id
    await queues.ticket_action(served, "complete", "staff")
    await queues.on_ticket(served, lambda q, now: q.rate(served, 4, now, "patient:telegram"))
    clock.advance(minutes=5)
    await queues.call_next("PHARM", "1", "staff")
    clock.advance(minutes=1)
    await queues.ticket_action(second.ticket.id, "no-show", "staff")
    await OutboxMessage.filter(channel="sms").update(status="sent", delivered_to="sms", segments=2)
    [row, *_] = await OutboxMessage.filter(ticket_id=second.ticket.id)
    row.status = "failed"
    await row.save()


async def admins_and_staff() -> None:
    for name, role, chat in (("boss", "admin", 601), ("ops", "admin", 602), ("ana", "staff", 603)):
        await accounts.create_account(name, role, "correct horse", queues=["PHARM"])
        await StaffAccount.filter(name=name).update(telegram_chat_id=chat)
    await accounts.create_account("away", "admin", "correct horse")  # no chat linked


async def test_the_figures_of_a_day(container: Container, clock: FakeClock) -> None:
    await a_day(container.queues, clock)
    summary = await daily_summary("PHARM", DAY)
    assert summary.to_dict() == {
        "code": "PHARM",
        "name": "Pharmacy",
        "day": "2026-03-02",
        "timezone": "UTC",
        "visits": 4,
        "completed": 1,
        "no_shows": 1,
        "cancelled": 1,
        "mean_wait_s": 900.0,
        "p90_wait_s": summary.p90_wait_s,
        "average_rating": 4.0,
        "ratings": 1,
        "sms_segments": 2 * await OutboxMessage.filter(channel="sms").count(),
        "failed_notifications": 1,
    }
    assert summary.p90_wait_s is not None and 600 < summary.p90_wait_s <= 1200
    empty = await daily_summary("PHARM", date(2026, 3, 1))
    assert (empty.visits, empty.mean_wait_s, empty.average_rating) == (0, None, None)


async def test_sent_once_to_the_admin_chats_after_local_midnight(
    container: Container, clock: FakeClock
) -> None:
    await admins_and_staff()
    await a_day(container.queues, clock)
    await container.queues.create_queue("LAB", "Lab", "L", QueueConfig(), ["1"])  # no visits
    other = DailySummaries(QueueService(container.bus, container.clock))
    first = DailySummaries(container.queues)
    clock.now = datetime.fromisoformat("2026-03-02T23:59:59+00:00")
    assert await first.send_due() == {"PHARM": 0, "LAB": 0}  # the 1st: no visits, not sent
    assert await OutboxMessage.filter(kind="daily_summary").count() == 0
    clock.now = datetime.fromisoformat("2026-03-03T00:00:15+00:00")
    results = await asyncio.gather(first.send_due(), other.send_due())
    # Each queue's day is claimed by one of the two, whichever gets there first.
    assert not results[0].keys() & results[1].keys()
    assert results[0] | results[1] == {"PHARM": 2, "LAB": 0}
    rows = await OutboxMessage.filter(kind="daily_summary").order_by("recipient")
    assert [r.recipient for r in rows] == ["601", "602"]
    assert rows[0].ticket_id is None  # type: ignore[attr-defined]
    assert rows[0].payload["visits"] == 4 and rows[0].payload["mean_wait_min"] == 15
    recorded = await DailyReportRow.all().values_list("queue__code", "day", "chats")
    assert sorted(recorded) == [
        ("LAB", date(2026, 3, 1), 0),
        ("LAB", DAY, 0),
        ("PHARM", date(2026, 3, 1), 0),
        ("PHARM", DAY, 2),
    ]
    clock.advance(hours=5)
    assert await first.send_due() == {} and await other.send_due() == {}
    assert await OutboxMessage.filter(kind="daily_summary").count() == 2


async def test_a_queue_in_another_time_zone_waits_for_its_own_midnight(
    container: Container, clock: FakeClock
) -> None:
    await admins_and_staff()
    queues = container.queues
    await queues.create_queue(
        "NY", "New York", "N", QueueConfig(timezone="America/New_York"), ["1"]
    )
    await queues.join("NY", new_join_request(), "staff")  # 04:00 in New York, 2 March
    summaries = DailySummaries(queues)
    clock.now = datetime.fromisoformat("2026-03-03T04:59:00+00:00")  # 23:59 in New York
    assert await summaries.send_due() == {"NY": 0}  # the 1st: nothing to say
    clock.now = datetime.fromisoformat("2026-03-03T05:00:00+00:00")
    assert await summaries.send_due() == {"NY": 2}
    [row, _] = await OutboxMessage.filter(kind="daily_summary")
    assert row.payload["day"] == "2026-03-02"


async def test_with_opening_hours_it_goes_after_closing_once_the_line_is_done(
    container: Container, clock: FakeClock
) -> None:
    """Open 08:00-18:00 (UTC); the patient still waiting at 18:05 is called and served after
    closing (`serve_remaining`): the summary waits for that, not for midnight."""
    await admins_and_staff()
    queues = container.queues
    hours = parse_hours({"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]]})
    await queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(opening_hours=hours), ["1"])
    await queues.join("PHARM", new_join_request(), "staff")  # 09:00, Monday 2 March
    summaries = DailySummaries(queues)
    clock.now = datetime.fromisoformat("2026-03-02T17:59:00+00:00")
    assert await summaries.send_due() == {"PHARM": 0}  # Sunday the 1st: nothing to say
    clock.now = datetime.fromisoformat("2026-03-02T18:05:00+00:00")
    assert await summaries.send_due() == {}  # closed, but somebody still waits
    await queues.call_next("PHARM", "1", "staff")
    assert await summaries.send_due() == {}  # called, not done
    clock.advance(minutes=5)
    [called] = (await queues.status("PHARM")).queue.at_counters()
    await queues.ticket_action(called.id, "complete", "staff")
    assert await summaries.send_due() == {"PHARM": 2}
    [row, _] = await OutboxMessage.filter(kind="daily_summary")
    assert row.payload["day"] == "2026-03-02"
