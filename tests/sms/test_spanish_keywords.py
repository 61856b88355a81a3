"""Spanish keywords by text, through the real twilio client and the Twilio emulator: each is
carried out like its English twin and answered in Spanish; BAJA and ALTA opt out and back in
(Twilio knows nothing of them, so NextUp confirms them itself)."""

from __future__ import annotations

from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from core.storage import contacts
from core.storage.models import OutboxMessage, TicketRow
from tests.sms.conftest import LiveSms

PATIENT = "+15551230001"
OTHER = "+15551230002"
STRANGER = "+15551230009"


async def walk_ins(live: LiveSms, count: int, code: str = "PHARM") -> None:
    for i in range(count):
        await live.container.queues.join(code, new_join_request(name=f"W{i}"), "staff:ana")


async def test_a_whole_visit_in_spanish_keywords_in_an_english_queue(live: LiveSms) -> None:
    await walk_ins(live, 3)
    joined = await live.reply(PATIENT, "Únirse pharm")
    assert joined.startswith("Pharmacy: turno A-004, puesto 4, espera ")
    assert "Responda ESTADO, TARDE o SALIR" in joined
    assert (await live.reply(PATIENT, "estado")).startswith("A-004 Pharmacy: puesto 4")
    moved = await live.reply(PATIENT, "TARDE 10")
    assert moved.startswith("De acuerdo, turno A-004 retrasado.")
    assert (await TicketRow.get(phone=PATIENT)).late_count == 1
    # Joining in Spanish chose Spanish for the visit: its texts, and the answers to the
    # English words every poster shows, follow.
    assert (await TicketRow.get(phone=PATIENT)).language == "es"
    assert (await live.reply(PATIENT, "STATUS")).startswith("A-004 Pharmacy: puesto")
    await live.container.queues.call_next("PHARM", "1", "staff:ana")
    close = await live.sms(PATIENT, "ya casi es su turno")
    assert "responda TARDE 10" in close.body
    assert await live.reply(PATIENT, "salir!") == (
        "Ha salido de la fila (turno A-004). Gracias por avisar."
    )


async def test_the_reply_is_in_the_language_of_the_keyword(live: LiveSms) -> None:
    joined = await live.reply(PATIENT, "JOIN PHARM")
    assert joined.startswith("Pharmacy: ticket A-001")
    assert (await live.reply(PATIENT, "ESTADO")).startswith("A-001 Pharmacy: puesto 1")
    # an English keyword from the same patient: the visit's language, English
    assert (await live.reply(PATIENT, "status")).startswith("A-001 Pharmacy: next in line")
    assert (await live.reply(PATIENT, "ayuda")).startswith("Envie UNIRSE y el codigo del cartel")
    assert (await live.reply(PATIENT, "help")).startswith("Text JOIN and the queue code")
    # ... and no text of the visit changed language
    assert (await TicketRow.get(phone=PATIENT)).language is None


async def test_spanish_keywords_from_someone_with_no_visit(live: LiveSms) -> None:
    assert (await live.reply(STRANGER, "Ayúda")).startswith("Envie UNIRSE y el codigo")
    assert (await live.reply(STRANGER, "estado")).startswith("No esta en ninguna fila.")
    assert (await live.reply(STRANGER, "cola")).startswith("Para entrar en una fila, envie UNIRSE")
    assert (await live.reply(STRANGER, "unirse NOPE")).startswith("No hay ninguna fila NOPE.")
    assert (await live.reply(STRANGER, "salir")).startswith("No esta en ninguna fila.")
    # someone who only ever texted English words is answered in English ...
    assert (await live.reply(OTHER, "status")).startswith("You are not in any queue")
    # ... and one who asked to join in Spanish chose Spanish, like a Telegram app's language
    assert (await live.reply(STRANGER, "status")).startswith("No esta en ninguna fila.")


async def test_an_english_keyword_in_a_spanish_queue_is_answered_in_spanish(
    live: LiveSms,
) -> None:
    await live.container.queues.create_queue(
        "FARM",
        "Farmacia",
        "F",
        QueueConfig(default_service_s=300, language="es"),
        ["1"],
        public_name="Farmacia",
    )
    await walk_ins(live, 1, "FARM")
    await live.reply(PATIENT, "JOIN FARM")
    assert (await live.reply(PATIENT, "LATE 5")).startswith("De acuerdo, turno F-002")
    assert (await live.reply(PATIENT, "Estado")).startswith("F-002 Farmacia: puesto")


async def test_baja_silences_every_queue_and_alta_restores(live: LiveSms) -> None:
    queues = live.container.queues
    await walk_ins(live, 3)
    await live.reply(PATIENT, "COLA PHARM")  # A-004, no. 4
    await live.reply(OTHER, "JOIN PHARM")  # still texted

    # Twilio does not know BAJA: it lets the answer through, and NextUp confirms the opt-out
    assert await live.reply(PATIENT, "Bája") == (
        "Ya no recibira SMS de la fila. Envie ALTA para volver a recibirlos."
    )
    assert PATIENT in await contacts.opted_out("sms", [PATIENT])
    assert PATIENT not in live.twilio.opted_out
    requests_before = len(live.twilio.requests)

    await queues.call_next("PHARM", "1", "staff:ana")  # the patient moves to 3: "close"
    ticket = await TicketRow.get(phone=PATIENT)
    await live.until(lambda: _suppressed(ticket.id, "close"))
    assert live.notifications_to(PATIENT) == []
    tried = live.twilio.requests[requests_before:]
    assert [r for r in tried if r.params.get("To") == PATIENT] == []  # not even tried

    assert await live.reply(PATIENT, "alta") == (
        "Volvera a recibir SMS de la fila. AYUDA: ayuda, BAJA: no recibir SMS."
    )
    assert PATIENT not in await contacts.opted_out("sms", [PATIENT])
    await queues.ticket_action(ticket.id, "call", "staff:ana", counter="2")
    called = await live.sms(PATIENT, "es su turno")
    assert "ventanilla 2" in called.body


async def test_stop_is_still_the_carriers_whatever_the_language(live: LiveSms) -> None:
    await live.reply(PATIENT, "UNIRSE PHARM")
    stop = await live.text(PATIENT, "STOP")
    assert (stop.status, stop.messages) == (200, [])  # Twilio confirms it, in its words
    assert PATIENT in await contacts.opted_out("sms", [PATIENT])
    assert PATIENT in live.twilio.opted_out


async def _suppressed(ticket_id: str, kind: str) -> bool:
    row = await OutboxMessage.get_or_none(ticket_id=ticket_id, kind=kind)
    return row is not None and row.status == "suppressed"


async def test_alta_does_not_lift_twilios_own_block_after_stop(live: LiveSms) -> None:
    """After STOP only START lifts Twilio's block: ALTA clears NextUp's opt-out, but Twilio
    drops the answer, and the next text's 21610 marks the number opted out again."""
    await walk_ins(live, 3)
    await live.reply(PATIENT, "UNIRSE PHARM")
    await live.text(PATIENT, "STOP")
    alta = await live.text(PATIENT, "ALTA")
    assert alta.status == 200 and alta.messages == [
        "Volvera a recibir SMS de la fila. AYUDA: ayuda, BAJA: no recibir SMS."
    ]
    assert [m.error_code for m in live.twilio.blocked if m.to == PATIENT] == [21610]
    assert PATIENT not in await contacts.opted_out("sms", [PATIENT])

    await live.container.queues.call_next("PHARM", "1", "staff:ana")  # "close" is tried
    ticket = await TicketRow.get(phone=PATIENT)
    await live.until(lambda: _suppressed(ticket.id, "close"))
    assert PATIENT in await contacts.opted_out("sms", [PATIENT])
    assert live.notifications_to(PATIENT) == []
