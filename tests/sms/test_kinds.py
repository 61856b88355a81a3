"""The kind of visit by text, through the real twilio client and the Twilio emulator:
`JOIN PHARM PICKUP` and `UNIRSE FARM RECOGIDA` join with it; a word the queue does not know
still joins, and the reply lists the kinds; `KIND` (`TIPO`) sets it while waiting."""

from __future__ import annotations

from core.domain.model import QueueConfig, QueueMode
from core.messages import is_gsm7, sms_segments
from core.services.queues import new_join_request
from core.storage.models import TicketEventRow, TicketRow
from tests.sms.conftest import LiveSms

PATIENT = "+15551230001"
OTHER = "+15551230002"
KINDS = {"pickup": 120, "consultation": 900}


async def kinds_queue(live: LiveSms, code: str = "FARM") -> None:
    # a fairness cap a consultation can keep (sure to be over within 2,250 s): shorter
    # visits may pass it
    config = QueueConfig(
        mode=QueueMode.SHORT_FIRST,
        service_times_s=KINDS,
        default_service_s=1200,
        fairness_cap_s=3600,
    )
    await live.container.queues.create_queue(code, "Farmacia", "F", config, ["1"])


async def test_join_naming_the_kind(live: LiveSms) -> None:
    await kinds_queue(live)
    await live.container.queues.join("FARM", new_join_request(service="consultation"), "staff:a")
    joined = await live.reply(PATIENT, "JOIN farm pickup")
    assert joined.startswith("FARM: ticket F-002, next in line")  # a pickup goes first
    ticket = await TicketRow.get(phone=PATIENT)
    assert ticket.service == "pickup"

    spanish = await live.reply(OTHER, "Unirse FARM Recogida")
    assert spanish.startswith("FARM: turno F-003, puesto 2")  # behind the other pickup only
    assert (await TicketRow.get(phone=OTHER)).service == "pickup"


async def test_an_unknown_kind_still_joins_and_lists_the_kinds(live: LiveSms) -> None:
    await kinds_queue(live)
    joined = await live.reply(PATIENT, "UNIRSE FARM vacuna")
    assert joined.startswith("FARM: turno F-001, puesto 1")
    assert (
        "No conocemos VACUNA. Para decir a que viene, envie TIPO y uno de: Consulta, Recogida"
        in joined
    )
    assert is_gsm7(joined)
    ticket = await TicketRow.get(phone=PATIENT)
    assert ticket.service is None
    # the valid word then sets it, answered with the new place and wait in one segment
    answer = await live.reply(PATIENT, "tipo consulta")
    assert answer.startswith("De acuerdo, turno F-001: Consulta. Puesto 1")
    assert sms_segments(answer) == 1
    ticket = await TicketRow.get(id=ticket.id)
    assert ticket.service == "consultation"
    [event] = await TicketEventRow.filter(ticket_id=ticket.id, type="ticket_service_chosen")
    assert event.actor == "patient:sms" and event.data["service"] == "consultation"


async def test_kind_while_waiting_in_english(live: LiveSms) -> None:
    await kinds_queue(live, "CLINIC")
    await live.reply(PATIENT, "JOIN CLINIC")
    answer = await live.reply(PATIENT, "KIND Pickup")
    assert answer.startswith("OK, ticket F-001: Pickup. You are next in line")
    assert (await TicketRow.get(phone=PATIENT)).service == "pickup"
    unknown = await live.reply(PATIENT, "kind x-ray")
    assert unknown == (
        "We do not know X-RAY. To say what your visit is for, text KIND and one of: "
        "Consultation, Pickup"
    )
    assert (await TicketRow.get(phone=PATIENT)).service == "pickup"


async def test_a_queue_without_kinds_ignores_the_words(live: LiveSms) -> None:
    joined = await live.reply(PATIENT, "JOIN PHARM please")
    assert joined.startswith("Pharmacy: ticket A-001") and "KIND" not in joined
    assert (await TicketRow.get(phone=PATIENT)).service is None
    assert (await live.reply(PATIENT, "KIND pickup")).startswith(
        "This queue does not ask what your visit is for"
    )


async def test_kind_without_a_visit_or_after_the_call(live: LiveSms) -> None:
    await kinds_queue(live)
    assert (await live.reply(PATIENT, "KIND pickup")).startswith("You are not in any queue")
    await live.reply(PATIENT, "JOIN FARM")
    await live.container.queues.call_next("FARM", "1", "staff:ana")
    # called: no longer waiting, so there is nothing to set (and nothing changes)
    assert (await live.reply(PATIENT, "KIND pickup")).startswith("You are not in any queue")
    assert (await TicketRow.get(phone=PATIENT)).service is None


async def test_joining_again_with_the_kind_sets_it_on_the_ticket_held(live: LiveSms) -> None:
    await kinds_queue(live)
    await live.reply(PATIENT, "JOIN FARM")
    again = await live.reply(PATIENT, "JOIN FARM CONSULTATION")
    assert again.startswith("You are already in FARM: ticket F-001")
    assert (await TicketRow.get(phone=PATIENT)).service == "consultation"
    assert await TicketRow.filter(phone=PATIENT).count() == 1


async def test_a_full_queue_overflows_without_a_kind_its_overflow_lacks(live: LiveSms) -> None:
    await live.container.queues.create_queue(
        "FULL",
        "Full",
        "U",
        QueueConfig(capacity=1, overflow_queue="PHARM", service_times_s=KINDS),
        ["1"],
    )
    await live.container.queues.join("FULL", new_join_request(), "staff:ana")
    joined = await live.reply(PATIENT, "JOIN FULL PICKUP")
    assert joined.startswith("Pharmacy: ticket A-001 (FULL was full)")
    assert "KIND" not in joined  # the kind was a good one: nothing to correct
    ticket = await TicketRow.get(phone=PATIENT)
    assert (ticket.number, ticket.service) == ("A-001", None)
