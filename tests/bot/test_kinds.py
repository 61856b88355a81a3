"""The kind of visit through the real aiogram bot and the Bot API emulator: the question with
a button per kind after a join, the choice setting the ticket's kind (audited, the line
re-ranked), "Not sure", /kind, and buttons that went stale."""

from __future__ import annotations

from typing import Any

from core.domain.model import QueueConfig, QueueMode
from core.services.queues import new_join_request
from core.storage.models import TicketEventRow, TicketRow
from tests.bot.conftest import Live
from tests.bot.test_visit import wait_until
from tests.emulators.telegram import SentMessage

PATIENT = 1001
OTHER = 1002
KINDS = {"pickup": 120, "consultation": 900, "flu_shot": 300}


async def clinic(live: Live) -> None:
    """Shortest visits first, so a choice can move the patient up the line."""
    # a fairness cap a consultation can keep (sure to be over within 2,250 s): shorter
    # visits may pass it
    config = QueueConfig(
        mode=QueueMode.SHORT_FIRST,
        service_times_s=KINDS,
        default_service_s=1200,
        fairness_cap_s=3600,
    )
    await live.container.queues.create_queue("CLINIC", "Clinic", "C", config, ["1"])


def buttons(message: SentMessage) -> list[list[dict[str, Any]]]:
    assert message.reply_markup is not None
    rows: list[list[dict[str, Any]]] = message.reply_markup["inline_keyboard"]
    return rows


def button(message: SentMessage, text: str) -> str:
    [data] = [b["callback_data"] for row in buttons(message) for b in row if b["text"] == text]
    assert isinstance(data, str) and len(data.encode()) <= 64
    return data


async def press(live: Live, chat_id: int, message: SentMessage, text: str) -> str | None:
    """Presses the button; the notice shown on it."""
    tg = live.tg
    query_id = await tg.press_button(chat_id, message.message_id, button(message, text))
    await wait_until(lambda: any(a.callback_query_id == query_id for a in tg.callback_answers))
    [answer] = [a for a in tg.callback_answers if a.callback_query_id == query_id]
    return answer.text


async def test_the_question_after_a_join_and_the_choice_moving_the_patient_up(
    live: Live,
) -> None:
    await clinic(live)
    for _ in range(2):  # two consultations ahead
        await live.container.queues.join(
            "CLINIC", new_join_request(service="consultation"), "staff:ana"
        )
    await live.say(PATIENT, "/start q_CLINIC", language_code="es-ES")
    [question] = await live.tg.wait_for_message(PATIENT, "¿a qué viene?")
    assert question.text.startswith("C-003")
    labels = [[b["text"] for b in row] for row in buttons(question)]
    assert labels == [["Consulta", "Flu shot"], ["Recogida"], ["No lo sé"]]
    ticket = await TicketRow.get(telegram_chat_id=PATIENT)
    assert ticket.service is None

    notice = await press(live, PATIENT, question, "Recogida")
    assert notice and "Recogida" in notice
    await wait_until(lambda: any(e.message_id == question.message_id for e in live.tg.edits))
    [edit] = [e for e in live.tg.edits if e.message_id == question.message_id]
    assert edit.reply_markup is None  # the buttons are spent
    assert edit.text and "C-003 es para Recogida" in edit.text
    assert "Su turno es el siguiente" in edit.text  # a pickup goes before the consultations
    ticket = await TicketRow.get(id=ticket.id)
    assert ticket.service == "pickup"
    [event] = await TicketEventRow.filter(ticket_id=ticket.id, type="ticket_service_chosen")
    assert event.actor == "patient:telegram"
    assert event.data["service"] == "pickup" and event.data["previous_service"] is None
    assert (event.data["old_position"], event.data["new_position"]) == (3, 1)
    status = await live.container.queues.status("CLINIC")
    assert status.queue.waiting()[0].id == ticket.id


async def test_not_sure_and_kind_again(live: Live) -> None:
    await clinic(live)
    await live.say(PATIENT, "/join clinic")
    [question] = await live.tg.wait_for_message(PATIENT, "what is your visit for?")
    await press(live, PATIENT, question, "Consultation")
    ticket = await TicketRow.get(telegram_chat_id=PATIENT)
    await wait_until(lambda: len(live.tg.edits) == 1)
    assert (await TicketRow.get(id=ticket.id)).service == "consultation"

    again = await live.reply_to(PATIENT, "/kind", "Now: Consultation")
    notice = await press(live, PATIENT, again, "Not sure")
    assert notice and "without a kind of visit" in notice
    await wait_until(lambda: len(live.tg.edits) == 2)
    assert (await TicketRow.get(id=ticket.id)).service is None
    chosen = await TicketEventRow.filter(ticket_id=ticket.id, type="ticket_service_chosen")
    assert [e.data["service"] for e in sorted(chosen, key=lambda e: e.at)] == [
        "consultation",
        None,
    ]
    # joining again while the kind is not known asks again; the ticket stays the same
    await live.say(PATIENT, "/join CLINIC")
    await live.tg.wait_for_message(PATIENT, "what is your visit for?", count=3)
    assert await TicketRow.filter(telegram_chat_id=PATIENT).count() == 1


async def test_a_queue_without_kinds_asks_nothing(live: Live) -> None:
    await live.reply_to(PATIENT, "/join NOPE", "no queue with the code NOPE")
    await live.say(PATIENT, "/join PHARM")
    await live.tg.wait_for_message(PATIENT, "A-001")
    await live.reply_to(PATIENT, "/kind", "not waiting in a queue that asks")
    await live.tg.wait_for_message(PATIENT, "Also text me")  # the phone offer still follows
    texts = [m.text for m in live.tg.messages_to(PATIENT)]
    assert not any("visit for" in t or "went wrong" in t for t in texts), texts


async def test_a_stale_question_and_another_patients_button(live: Live) -> None:
    queues = live.container.queues
    await clinic(live)
    await live.say(PATIENT, "/join CLINIC")
    [question] = await live.tg.wait_for_message(PATIENT, "what is your visit for?")
    ticket = await TicketRow.get(telegram_chat_id=PATIENT)

    # somebody else pressing it (a forwarded message): not theirs, nothing changes
    data = button(question, "Pickup")
    query_id = await live.tg.press_button(OTHER, question.message_id, data)
    await wait_until(lambda: any(a.callback_query_id == query_id for a in live.tg.callback_answers))
    assert (await TicketRow.get(id=ticket.id)).service is None

    await queues.call_next("CLINIC", "1", "staff:ana")
    notice = await press(live, PATIENT, question, "Pickup")
    assert notice and "no longer waiting" in notice
    await wait_until(lambda: any(e.message_id == question.message_id for e in live.tg.edits))
    assert (await TicketRow.get(id=ticket.id)).service is None
    assert not await TicketEventRow.filter(ticket_id=ticket.id, type="ticket_service_chosen")
