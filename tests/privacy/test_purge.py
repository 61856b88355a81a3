"""Retention: after `nextup purge --days 0` the database holds none of the names, numbers,
chat ids or page tokens of the visits that ended, the analytics of those days read the same,
and a number that texted STOP is still not written to when it joins again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.services import reports
from core.services.patients import Patient
from core.services.queues import new_join_request
from core.storage.models import ConsentRow, Contact, OutboxMessage, PrivacyLogRow, TicketRow
from tests.privacy.conftest import SECRET_KEY, Clinic, database_dump
from tests.processes import run_nextup
from web.console.analytics_page import csv_text

ANA = "+34600111222"  # joins by text, is served
BEN = "+34600333444"  # joins by text, texts STOP, is served
CARLA = 918273645  # joins by the Telegram deep link, is served
WALK_IN_PHONE = "+34600555666"
WALK_IN_NAME = "Zebulon Quartermaine"


async def settled(clinic: Clinic) -> None:
    """Every message sent (or given up) and its delivery reported."""

    async def quiet() -> bool:
        pending = await OutboxMessage.filter(status__in=["queued", "sending"]).count()
        return pending == 0 and not clinic.twilio.pending_callbacks()

    await clinic.until(quiet)


async def serve_everyone(clinic: Clinic) -> None:
    queues = clinic.container.queues
    while (await queues.status("PHARM")).queue.waiting():
        called = await queues.call_next("PHARM", "1", "staff:nurse")
        await queues.ticket_action(called.id, "complete", "staff:nurse")


async def a_morning(clinic: Clinic) -> None:
    """Four visits on both channels, one of them by a patient who then texts STOP."""
    assert await clinic.text(ANA, "JOIN PHARM")
    assert await clinic.text(BEN, "JOIN PHARM")
    await clinic.tg.user_message(CARLA, "/start q_PHARM", first_name="Carla")
    await clinic.tg.wait_for_message(CARLA, "A-003")
    request = new_join_request(name=WALK_IN_NAME, phone=WALK_IN_PHONE)
    await clinic.container.queues.join("PHARM", request, "staff:reception")
    assert await clinic.text(BEN, "STOP") == []
    await serve_everyone(clinic)
    rated = await TicketRow.get(telegram_chat_id=CARLA)
    await clinic.container.patients.rate(Patient.telegram(CARLA), rated.id, 5)
    await settled(clinic)


async def analytics_of_today(now: datetime) -> tuple[Any, ...]:
    """What the analytics page, its CSV, the API's figures and the hourly table show."""
    today = now.date()
    span = reports.DateRange(today, today)
    report = await reports.queue_report("PHARM", span)
    start, end = span.bounds()
    hourly = [
        (r.hour_start, r.joined, r.called, r.completed, r.no_shows, r.wait_s_sum, r.size_sum)
        for r in await reports.hourly_metrics("PHARM", start, end)
    ]
    return (
        report,
        csv_text(report.visits, "UTC"),
        await reports.analytics("PHARM", 1, now),
        hourly,
    )


def personal_data(tokens: list[str]) -> list[str]:
    digits = [p.removeprefix("+") for p in (ANA, BEN, WALK_IN_PHONE)]
    return [ANA, BEN, WALK_IN_PHONE, *digits, str(CARLA), WALK_IN_NAME, "Carla", *tokens]


async def test_purge_leaves_no_personal_data_and_the_same_analytics(
    clinic: Clinic, tmp_path: Path
) -> None:
    await a_morning(clinic)
    tokens = [str(t) for t in await TicketRow.all().values_list("token", flat=True)]
    assert len(tokens) == 4
    before_dump = await database_dump(clinic.database_url)
    for datum in personal_data(tokens):  # the check below can fail: they were there
        assert datum in before_dump or datum == "Carla", datum
    methods = sorted(await ConsentRow.all().values_list("method", flat=True))
    assert methods == ["sms_keyword", "sms_keyword", "sms_stop", "staff_walk_in",
                       "telegram_deep_link"]  # fmt: skip
    now = datetime.now(UTC)
    before = await analytics_of_today(now)

    done = await asyncio.to_thread(
        run_nextup,
        tmp_path,
        "purge",
        "--days",
        "0",
        database_url=clinic.database_url,
        secret_key=SECRET_KEY,
    )
    assert done.returncode == 0, done.stderr
    assert "tickets    4" in done.stdout, done.stdout

    dump = await database_dump(clinic.database_url)
    for datum in personal_data(tokens):
        assert datum not in dump, f"{datum!r} is still in the database"
    assert await analytics_of_today(now) == before
    assert await TicketRow.filter(purged_at__isnull=True).count() == 0
    # The opt-out outlives the purge, as a keyed hash of the number alone.
    assert await Contact.filter(opted_out=True).count() == 1
    log = await PrivacyLogRow.get(kind="purge")
    assert log.counts["tickets"] == 4 and log.actor.startswith("cli")

    # Ben joins again: NextUp still does not text him. Ana, who never opted out, is texted.
    await clinic.text(BEN, "JOIN PHARM")
    await clinic.text(ANA, "JOIN PHARM")
    # Both called at once, and served only once their calls went out: a call to a ticket
    # already served is superseded, not sent, which is not what this looks at.
    for counter in ("1", "2"):
        await clinic.container.queues.call_next("PHARM", counter, "staff:nurse")
    await settled(clinic)
    ben = await TicketRow.get(phone=BEN)
    ana = await TicketRow.get(phone=ANA)
    called_ben = await OutboxMessage.get(ticket_id=ben.id, kind="called")
    called_ana = await OutboxMessage.get(ticket_id=ana.id, kind="called")
    assert called_ben.status == "suppressed"
    assert called_ana.status == "sent"
    assert not [m for m in clinic.twilio.messages_to(BEN) if "counter" in m.body.lower()]
    await serve_everyone(clinic)


async def test_a_dry_run_counts_and_erases_nothing(clinic: Clinic) -> None:
    await a_morning(clinic)
    before = await database_dump(clinic.database_url)
    counts = await clinic.container.privacy.purge(days=0, dry_run=True)
    assert counts["tickets"] == 4
    assert counts["messages"] == await OutboxMessage.all().count()
    assert counts["consents"] == 5
    assert await database_dump(clinic.database_url) == before
    # Nothing ended more than a day ago: a purge at the default retention erases nothing.
    assert await clinic.container.privacy.purge() == {}
