"""Every reply to a patient's text is in the patient's language: the one they chose, else
their queue's, else the default; and counted words come from the catalogue's plurals."""

from __future__ import annotations

from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from tests.sms.conftest import LiveSms

PATIENT = "+15551230001"
STRANGER = "+15551230009"


async def spanish_queue(live: LiveSms) -> None:
    await live.container.queues.create_queue(
        "FARM",
        "Farmacia central",
        "F",
        QueueConfig(default_service_s=300, language="es"),
        ["1"],
        public_name="Farmacia",
    )


async def test_status_and_help_follow_the_queue_language(live: LiveSms) -> None:
    await spanish_queue(live)
    joined = await live.reply(PATIENT, "JOIN FARM")
    assert "Farmacia" in joined and "puesto" in joined.lower()
    # first in line at a free counter: no "unos 0 min", the words of the catalogue
    status = await live.reply(PATIENT, "STATUS")
    assert status == "F-001 Farmacia: puesto 1, espera menos de un minuto."
    help_text = await live.reply(PATIENT, "HELP")
    assert help_text.startswith("Envie UNIRSE y el codigo del cartel")
    left = await live.reply(PATIENT, "LEAVE")
    assert left == "Ha salido de la fila (turno F-001). Gracias por avisar."
    # no ticket left, but the visit was in Spanish: still answered in Spanish
    assert (await live.reply(PATIENT, "STATUS")).startswith("No esta en ninguna fila.")
    # someone who never joined anything: the default language
    assert (await live.reply(STRANGER, "HELP")).startswith("Text JOIN and the queue code")


async def test_leaving_two_queues_says_tickets_in_the_latest_queue_language(
    live: LiveSms,
) -> None:
    await spanish_queue(live)
    # a walk-in ahead in each queue, so the two tickets are still waiting
    for code in ("PHARM", "FARM"):
        await live.container.queues.join(code, new_join_request(name="W"), "staff:ana")
    await live.reply(PATIENT, "JOIN PHARM")
    await live.reply(PATIENT, "JOIN FARM")
    left = await live.reply(PATIENT, "LEAVE")
    assert left == "Ha salido de la fila (turnos A-002, F-002). Gracias por avisar."
