"""Whole visits through the real aiogram bot and the Bot API emulator: a patient from the
deep link to the rating, and a pharmacist from /link to /done."""

from __future__ import annotations

from core.services import accounts
from core.services.queues import new_join_request
from core.services.staff_chat import issue_link_code
from core.storage.models import TicketEventRow, TicketRow
from tests.bot.conftest import Live

PATIENT = 1001
PHARMACIST = 2002


async def walk_ins(live: Live, n: int) -> None:
    for _ in range(n):
        await live.container.queues.join("PHARM", new_join_request(), "staff:ana")


async def test_a_patients_whole_visit(live: Live) -> None:
    queues, tg = live.container.queues, live.tg
    await walk_ins(live, 3)
    await live.say(PATIENT, "/start q_PHARM", language_code="es-ES")
    [joined] = await tg.wait_for_message(PATIENT, "A-004")
    assert "Farmacia" not in joined.text and "Pharmacy" in joined.text  # the queue's own name
    assert "puesto 4" in joined.text  # Spanish, from the Telegram app's language
    assert "https://queue.example.org/t/" in joined.text
    ticket = await TicketRow.get(telegram_chat_id=PATIENT)
    assert (ticket.number, ticket.language) == ("A-004", "es")

    first = await queues.call_next("PHARM", "1", "staff:ana")  # now third: getting close
    await tg.wait_for_message(PATIENT, "puesto 3")
    second = await queues.call_next("PHARM", "2", "staff:ana")  # second: no message
    await queues.ticket_action(first.id, "start", "staff:ana")  # finished by the next call
    await queues.call_next("PHARM", "1", "staff:ana")  # next in line
    await queues.ticket_action(second.id, "start", "staff:ana")
    await tg.wait_for_message(PATIENT, "es el siguiente")
    called = await queues.call_next("PHARM", "2", "staff:ana")
    assert called.id == ticket.id
    [call] = await tg.wait_for_message(PATIENT, "ventanilla 2")
    assert call.reply_markup is not None
    [[button]] = call.reply_markup["inline_keyboard"]
    assert (button["text"], button["callback_data"]) == ("Voy de camino", f"ack:{ticket.id}")

    query_id = await tg.press_button(PATIENT, call.message_id, button["callback_data"])
    await wait_until(lambda: any(a.callback_query_id == query_id for a in tg.callback_answers))
    [answer] = [a for a in tg.callback_answers if a.callback_query_id == query_id]
    assert answer.text and "camino" in answer.text
    await wait_until(lambda: any(e.message_id == call.message_id for e in tg.edits))
    records = {n.kind: n for n in await live.outbox(ticket.id)}
    assert records["called"].status == "acknowledged"
    assert records["called"].acknowledged_at is not None
    assert (await TicketRow.get(id=ticket.id)).acknowledged_at is not None

    await queues.ticket_action(ticket.id, "start", "staff:ana")
    await queues.ticket_action(ticket.id, "complete", "staff:ana")
    [done] = await tg.wait_for_message(PATIENT, "Gracias")
    assert done.reply_markup is not None
    [rates] = done.reply_markup["inline_keyboard"]
    assert [b["callback_data"] for b in rates] == [f"rate:{ticket.id}:{n}" for n in range(1, 6)]
    await tg.press_button(PATIENT, done.message_id, rates[4]["callback_data"])
    await wait_until(lambda: len(tg.callback_answers) == 2)
    assert (await TicketRow.get(id=ticket.id)).rating == 5

    kinds = [n.kind for n in await live.outbox(ticket.id)]
    assert kinds == ["joined", "close", "close", "called", "done"]
    assert all(n.status in ("sent", "acknowledged") for n in await live.outbox(ticket.id))
    sent_texts = [m.text for m in tg.messages_to(PATIENT)]
    # each once, and the offer of the phone button after the join; nothing else
    assert len(sent_texts) == 6, sent_texts
    assert sum("Por si se le pasa un mensaje" in t for t in sent_texts) == 1
    audit = [e.type for e in await TicketEventRow.filter(ticket_id=ticket.id).order_by("at")]
    assert "ticket_acknowledged" in audit and "ticket_rated" in audit


async def test_joining_twice_returns_the_same_ticket(live: Live) -> None:
    await live.say(PATIENT, "/join pharm")
    await live.tg.wait_for_message(PATIENT, "A-001")
    answer = await live.reply_to(PATIENT, "/start q_PHARM", "already have ticket A-001")
    assert "number 1 in line" in answer.text or "next in line" in answer.text
    assert await TicketRow.filter(telegram_chat_id=PATIENT).count() == 1


async def test_status_late_travel_lang_and_leave(live: Live) -> None:
    await walk_ins(live, 4)
    await live.say(PATIENT, "/join PHARM")
    await live.tg.wait_for_message(PATIENT, "A-005")
    status = await live.reply_to(PATIENT, "/status", "A-005")
    assert "number 5 in line" in status.text
    late = await live.reply_to(PATIENT, "/late 10", "moved back")
    assert "You can do this 1 more time" in late.text
    await live.reply_to(PATIENT, "/late 10", "cannot move back again")
    await live.reply_to(PATIENT, "/late 10", "already moved back twice")
    await live.reply_to(PATIENT, "/travel 20", "20 min to come back")
    assert (await TicketRow.get(telegram_chat_id=PATIENT)).travel_s == 1200
    await live.reply_to(PATIENT, "/lang es", "Idioma: Español")
    left = await live.reply_to(PATIENT, "/leave", "Ha salido de la fila (A-005)")
    assert left
    assert (await TicketRow.get(telegram_chat_id=PATIENT)).status == "cancelled"
    await live.tg.wait_for_message(PATIENT, "turno")  # the "left" notification, in Spanish
    await live.reply_to(PATIENT, "/status", "no tiene ningún turno")


async def test_a_pharmacist_links_the_chat_and_calls_patients(live: Live) -> None:
    queues = live.container.queues
    await accounts.create_account("maria", "pharmacist", "correct horse", queues=["PHARM"])
    await live.say(PATIENT, "/join PHARM")
    await live.tg.wait_for_message(PATIENT, "A-001")
    await walk_ins(live, 1)

    await live.reply_to(PHARMACIST, "/next PHARM 2", "for staff")  # not linked yet
    code = await issue_link_code("maria", queues.clock())
    await live.reply_to(PHARMACIST, f"/link {code.lower()}", "linked to maria")
    await live.reply_to(PATIENT, f"/link {code}", "unknown, used or expired")  # once only

    called = await live.reply_to(PHARMACIST, "/next PHARM 2", "Called A-001")
    assert "counter 2 of PHARM" in called.text
    await live.tg.wait_for_message(PATIENT, "counter 2")
    await live.reply_to(PHARMACIST, "/recall", "Called A-001 again to counter 2")
    await live.tg.wait_for_message(PATIENT, "counter 2", count=2)
    # called and not here yet: nobody else is sent to counter 2
    await live.reply_to(PHARMACIST, "/next", "Counter 2 is still waiting for A-001")
    await live.reply_to(PHARMACIST, "/done", "A-001 done")  # started and completed
    await live.reply_to(PHARMACIST, "/next", "Called A-002")  # remembers PHARM and 2
    await live.reply_to(PHARMACIST, "/noshow", "A-002 marked as a no-show")
    await live.reply_to(PHARMACIST, "/next", "Nobody is waiting in PHARM")
    await live.reply_to(PHARMACIST, "/queue", "PHARM: 0 waiting")
    await live.reply_to(PHARMACIST, "/recall", "Nobody is at your counter")
    history = await TicketEventRow.filter(ticket__number="A-001").values_list("actor", flat=True)
    assert "staff:maria" in history


async def test_two_pharmacists_pressing_next_at_once_get_different_patients(live: Live) -> None:
    import asyncio

    await walk_ins(live, 2)
    for n, name in enumerate(("maria", "jose")):
        await accounts.create_account(name, "pharmacist", "correct horse", queues=["PHARM"])
        code = await issue_link_code(name, live.container.queues.clock())
        await live.reply_to(3000 + n, f"/link {code}", "linked")
    await asyncio.gather(live.say(3000, "/next PHARM 1"), live.say(3001, "/next PHARM 2"))
    [first] = await live.tg.wait_for_message(3000, "Called")
    [second] = await live.tg.wait_for_message(3001, "Called")
    numbers = {first.text.split()[1], second.text.split()[1]}
    assert numbers == {"A-001", "A-002"}


async def wait_until(condition: object, timeout_s: float = 5.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
