"""Through the real aiogram bot and the Bot API emulator: a patient who tries to join a
closed, paused or closing queue is told so in their language, with when it opens."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.domain.hours import WEEKDAYS, parse_hours
from core.services import accounts
from core.services.queues import new_join_request
from core.services.staff_chat import issue_link_code
from core.storage.models import QueueEventRow, TicketRow
from tests.bot.conftest import Live

PATIENT = 1001
STAFF = 2001
MADRID = ZoneInfo("Europe/Madrid")
EN_DAYS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
ES_DAYS = dict(zip(WEEKDAYS, ("lun", "mar", "mié", "jue", "vie", "sab", "dom"), strict=True))


async def open_later(live: Live) -> datetime:
    """Hours of half an hour every day starting two hours from now (the bot runs on the
    real clock): closed now, opening at the local time returned."""
    start = (datetime.now(MADRID) + timedelta(hours=2)).replace(second=0, microsecond=0)
    interval = [start.strftime("%H:%M"), (start + timedelta(minutes=30)).strftime("%H:%M")]
    queues = live.container.queues
    config = await queues.get_config("PHARM")
    hours = parse_hours({day: [interval] for day in WEEKDAYS})
    await queues.put_config(
        "PHARM", dataclasses.replace(config, opening_hours=hours, timezone="Europe/Madrid")
    )
    return start


async def test_a_closed_queue_says_when_it_opens_in_english_and_spanish(live: Live) -> None:
    opens = await open_later(live)
    when = f"{EN_DAYS[WEEKDAYS[opens.weekday()]]} {opens:%H:%M}"
    answer = await live.reply_to(PATIENT, "/start q_PHARM", "closed")
    assert answer.text == f"Sorry, PHARM is closed. It opens {when}."
    cuando = f"el {ES_DAYS[WEEKDAYS[opens.weekday()]]} a las {opens:%H:%M}"
    respuesta = await live.reply_to(PATIENT + 1, "/join PHARM", "cerrada", language_code="es")
    assert respuesta.text == f"Lo sentimos, la fila PHARM está cerrada. Abre {cuando}."
    assert await TicketRow.all().count() == 0


async def test_a_paused_queue_gives_the_staff_message(live: Live) -> None:
    await live.container.queues.pause("PHARM", "Fire drill: back at 11", "staff:ana")
    answer = await live.reply_to(PATIENT, "/start q_PHARM", "paused")
    assert answer.text == (
        "Sorry, PHARM is paused and takes no new patients right now. Fire drill: back at 11"
    )
    await live.container.queues.resume("PHARM", "staff:ana")
    await live.say(PATIENT, "/start q_PHARM")
    await live.tg.wait_for_message(PATIENT, "A-001")


async def test_staff_walk_ins_still_come_in_while_closed(live: Live) -> None:
    await open_later(live)
    joined = await live.container.queues.join(
        "PHARM", new_join_request(name="Walk In", force=True), "staff:ana"
    )
    assert joined.ticket.number == "A-001"


async def test_linked_staff_pause_and_resume_from_the_chat(live: Live) -> None:
    queues = live.container.queues
    await accounts.create_account("maria", "pharmacist", "correct horse", queues=["PHARM"])
    await live.reply_to(STAFF, "/pause PHARM", "for staff")  # not linked yet
    code = await issue_link_code("maria", queues.clock())
    await live.reply_to(STAFF, f"/link {code}", "linked to maria")

    paused = await live.reply_to(STAFF, "/pause PHARM Fire drill, back at 11", "is paused")
    assert paused.text == (
        'PHARM is paused: patients who try to join are refused and told "Fire drill, back '
        'at 11". /resume PHARM lets them in again.'
    )
    answer = await live.reply_to(PATIENT, "/join PHARM", "paused")
    assert answer.text.endswith("Fire drill, back at 11")
    status = await live.reply_to(STAFF, "/queue PHARM", "PHARM: 0 waiting")
    assert status.text.endswith('Joins paused: "Fire drill, back at 11" (/resume PHARM).')
    await live.reply_to(STAFF, "/resume PHARM", "PHARM takes new patients again.")
    await live.say(PATIENT, "/join PHARM")
    await live.tg.wait_for_message(PATIENT, "A-001")
    audit = await QueueEventRow.filter(queue_code="PHARM").order_by("id")
    assert [(a.type, a.actor) for a in audit] == [
        ("queue_paused", "staff:maria"),
        ("queue_resumed", "staff:maria"),
    ]


async def test_pause_without_a_queue_code_uses_the_last_queue_or_asks(live: Live) -> None:
    await accounts.create_account("maria", "pharmacist", "correct horse", queues=["PHARM"])
    code = await issue_link_code("maria", live.container.queues.clock())
    await live.reply_to(STAFF, f"/link {code}", "linked to maria")
    await live.reply_to(STAFF, "/pause Fire drill", "say which queue, e.g. /pause PHARM")
    await live.reply_to(STAFF, "/queue PHARM", "PHARM: 0 waiting")  # not remembered by /queue
    await live.container.queues.join("PHARM", new_join_request(name="W"), "staff:ana")
    await live.reply_to(STAFF, "/next PHARM 1", "Called A-001")
    await live.reply_to(STAFF, "/pause Fire drill", 'told "Fire drill"')
    status = await live.container.queues.status("PHARM")
    assert status.queue.pause is not None and status.queue.pause.by == "staff:maria"
