"""Whole texts through the Twilio emulator: JOIN while the queue is closed, paused or
about to close is answered with when it opens, in one segment, in the patient's language."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.domain.hours import WEEKDAYS, parse_hours
from core.storage.models import TicketRow
from tests.sms.conftest import LiveSms

PATIENT = "+15551230001"
MADRID = ZoneInfo("Europe/Madrid")
EN_DAYS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
ES_DAYS = dict(zip(WEEKDAYS, ("lun", "mar", "mié", "jue", "vie", "sab", "dom"), strict=True))


async def set_hours(live: LiveSms, start: datetime, minutes: int, **more: object) -> None:
    interval = [start.strftime("%H:%M"), (start + timedelta(minutes=minutes)).strftime("%H:%M")]
    queues = live.container.queues
    config = await queues.get_config("PHARM")
    hours = parse_hours({day: [interval] for day in WEEKDAYS})
    await queues.put_config(
        "PHARM",
        dataclasses.replace(config, opening_hours=hours, timezone="Europe/Madrid", **more),  # type: ignore[arg-type]
    )


async def test_join_while_closed_says_when_it_opens(live: LiveSms) -> None:
    opens = (datetime.now(MADRID) + timedelta(hours=2)).replace(second=0, microsecond=0)
    await set_hours(live, opens, 30)
    answer = await live.reply(PATIENT, "JOIN PHARM")
    assert (
        answer
        == f"Sorry, PHARM is closed. It opens {EN_DAYS[WEEKDAYS[opens.weekday()]]} {opens:%H:%M}."
    )
    await set_hours(live, opens, 30, language="es")
    respuesta = await live.reply(PATIENT, "JOIN PHARM")
    assert respuesta == (
        f"Lo sentimos, PHARM esta cerrada. Abre el {ES_DAYS[WEEKDAYS[opens.weekday()]]} "
        f"a las {opens:%H:%M}."
    )
    assert await TicketRow.all().count() == 0


async def test_join_while_paused(live: LiveSms) -> None:
    await live.container.queues.pause("PHARM", None, "staff:ana")
    answer = await live.reply(PATIENT, "JOIN PHARM")
    assert (
        answer
        == "Sorry, PHARM is paused and takes no new patients right now. Please try again later."
    )


async def test_join_too_close_to_closing(live: LiveSms) -> None:
    # Open from a minute or two ago for 8 minutes in all, visits of 5 with two counters:
    # the first four are called within 5 minutes, the fifth in 10, after closing.
    start = (datetime.now(MADRID) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    await set_hours(live, start, 8)
    closes = start + timedelta(minutes=8)
    for n in range(4):
        await live.reply(f"+1555123010{n}", "JOIN PHARM")
    answer = await live.reply(PATIENT, "JOIN PHARM")
    assert answer == (
        f"Sorry, PHARM cannot see anyone joining now before it closes at {closes:%H:%M}. "
        f"It opens again {EN_DAYS[WEEKDAYS[(start + timedelta(days=1)).weekday()]]} {start:%H:%M}."
    )
