"""Whole SMS visits: the patient texts the Twilio number, NextUp answers in TwiML and sends
notifications through the real twilio client; Twilio's status callbacks come back signed."""

from __future__ import annotations

import asyncio

from core.services.patients import Patient
from core.services.queues import new_join_request
from core.services.reports import analytics
from core.storage.models import Contact, OutboxMessage, TicketRow
from core.storage.pseudonyms import address_hash
from tests.sms.conftest import LiveSms

PATIENT = "+15551230001"
OTHER = "+15551230002"


async def walk_ins(live: LiveSms, count: int) -> list[str]:
    """Patients staff added at the desk, without a phone."""
    joined = [
        await live.container.queues.join("PHARM", new_join_request(name=f"W{i}"), "staff:ana")
        for i in range(count)
    ]
    return [j.ticket.id for j in joined]


async def ticket_of(phone: str) -> TicketRow:
    return await TicketRow.get(phone=phone)


async def provider_status(row_id: str) -> str | None:
    return (await OutboxMessage.get(id=row_id)).provider_status


async def test_a_whole_visit_by_text(live: LiveSms) -> None:
    queues = live.container.queues
    await walk_ins(live, 4)

    joined = await live.reply(PATIENT, "join pharm")
    assert "Pharmacy: ticket A-005, no. 5 in line, wait" in joined
    assert "min" in joined and "https://nextup.example.org/t/" in joined
    ticket = await ticket_of(PATIENT)
    assert ticket.number == "A-005" and ticket.status == "waiting"
    [reply_record] = await live.outbox(ticket.id)
    assert (reply_record.kind, reply_record.status, reply_record.delivered_to) == (
        "joined",
        "sent",
        "sms",
    )
    assert reply_record.segments in (1, 2)
    # The TwiML reply asked Twilio for status callbacks on the reply itself.
    await live.until(lambda: _is(reply_record.id, "delivered"))

    status = await live.reply(PATIENT, "STATUS")
    assert status.startswith("A-005 Pharmacy: no. 5 in line, wait")

    await queues.call_next("PHARM", "1", "staff:ana")  # the patient moves to 4: no SMS
    await queues.call_next("PHARM", "2", "staff:bo")  # to 3: getting close
    close = await live.sms(PATIENT, "almost your turn")
    assert "You are number 3 in line" in close.body
    assert close.from_ == "+15550000001"

    await queues.ticket_action(ticket.id, "call", "staff:bo", counter="2")
    called = await live.sms(PATIENT, "it's your turn")
    assert "counter 2" in called.body
    records = {r.kind: r for r in await live.outbox(ticket.id)}
    await live.until(lambda: _is(records["called"].id, "delivered"))
    call = await OutboxMessage.get(id=records["called"].id)
    assert call.provider_message_id == called.sid
    assert (call.status, call.delivered_to, call.segments) == ("sent", "sms", 1)

    status = await live.reply(PATIENT, "status")
    assert status == "A-005 Pharmacy: called, go to counter 2 now."
    assert await live.reply(PATIENT, "LEAVE") == (
        "You have been called already. Please speak to the staff at the counter."
    )
    await queues.ticket_action(ticket.id, "start", "staff:bo")
    await queues.ticket_action(ticket.id, "complete", "staff:bo")
    await asyncio.sleep(0.5)
    # joined was the reply; no SMS for the second "close" or a paid thank-you.
    notified = live.notifications_to(PATIENT)
    assert [("almost your turn" in m.body, "it's your turn" in m.body) for m in notified] == [
        (True, False),
        (False, True),
    ]
    kinds = [r.kind for r in await live.outbox(ticket.id)]
    assert kinds.count("joined") == 1 and "done" not in kinds
    segments = sum(r.segments or 0 for r in await live.outbox(ticket.id))
    assert segments == 6  # joined, close and called; the replies to STATUS, STATUS and LEAVE
    figures = await analytics("PHARM", 1, live.container.clock())
    assert figures["sms"] == {"visits": 1, "segments": 6, "segments_per_visit": 6.0}


async def _is(row_id: str, state: str) -> bool:
    return await provider_status(row_id) == state


async def test_leave_by_text(live: LiveSms) -> None:
    await walk_ins(live, 1)
    assert "ticket A-002" in await live.reply(OTHER, "JOIN PHARM")
    assert await live.reply(OTHER, "leave.") == (
        "You have left the queue (ticket A-002). Thank you for telling us."
    )
    ticket = await ticket_of(OTHER)
    assert ticket.status == "cancelled"
    assert await live.reply(OTHER, "LEAVE") == (
        "You are not in any queue. To join, text JOIN and the code on the poster."
    )
    await asyncio.sleep(0.3)
    assert live.notifications_to(OTHER) == []  # the replies said it all


async def test_joining_twice_keeps_one_ticket(live: LiveSms) -> None:
    await live.reply(PATIENT, "PHARM")
    again = await live.reply(PATIENT, "JOIN PHARM")
    assert again.startswith("You are already in Pharmacy: ticket A-001, next in line")
    assert await TicketRow.filter(phone=PATIENT).count() == 1


async def test_late_by_text(live: LiveSms) -> None:
    await live.reply(PATIENT, "JOIN PHARM")
    await walk_ins(live, 3)
    moved = await live.reply(PATIENT, "late 10")
    assert moved.startswith("OK, ticket A-001 moved back. You are no. ")
    assert (await ticket_of(PATIENT)).late_count == 1
    await live.reply(PATIENT, "LATE")
    assert (await live.reply(PATIENT, "LATE 5")).startswith("Sorry, your ticket cannot be moved")


async def test_stop_silences_every_queue_at_once_and_start_restores(live: LiveSms) -> None:
    queues = live.container.queues
    await walk_ins(live, 3)
    await live.reply(PATIENT, "JOIN PHARM")  # A-004, no. 4

    stop = await live.text(PATIENT, "Stop")
    assert (stop.status, stop.messages) == (200, [])  # Twilio confirms the opt-out itself
    assert (await Contact.get(channel="sms", address=address_hash("sms", PATIENT))).opted_out
    requests_before = len(live.twilio.requests)

    await queues.call_next("PHARM", "1", "staff:ana")  # the patient moves to 3: "close"
    ticket = await ticket_of(PATIENT)
    await live.until(lambda: _suppressed(ticket.id, "close"))
    assert live.notifications_to(PATIENT) == []
    assert len(live.twilio.requests) == requests_before  # not even tried
    row = await OutboxMessage.get(ticket_id=ticket.id, kind="close")
    assert row.last_error == "the patient opted out of sms messages"

    assert await live.reply(PATIENT, "START") == (
        "You will get queue texts again. Text HELP for help, STOP to end texts."
    )
    await queues.ticket_action(ticket.id, "call", "staff:ana", counter="2")
    assert "counter 2" in (await live.sms(PATIENT, "it's your turn")).body


async def _suppressed(ticket_id: str, kind: str) -> bool:
    row = await OutboxMessage.get_or_none(ticket_id=ticket_id, kind=kind)
    return row is not None and row.status == "suppressed"


async def test_a_patient_added_by_staff_with_a_phone_is_texted(live: LiveSms) -> None:
    api_join = new_join_request(phone="+1 (555) 123-0009", name="Walk-in")
    joined = await live.container.queues.join("PHARM", api_join, "staff:ana")
    assert joined.ticket.phone == "+15551230009"
    sms = await live.sms("+15551230009", "ticket A-001")
    assert "next in line" in sms.body
    [row] = await live.outbox(joined.ticket.id)
    await live.until(lambda: _is(row.id, "delivered"))
    # The patient can then use every keyword from that phone.
    assert (await live.reply("+15551230009", "status")).startswith("A-001 Pharmacy: next in line")


async def test_an_unanswered_telegram_call_goes_again_by_sms(live: LiveSms) -> None:
    """Telegram has no credentials in this set-up, so its messages land in the dev inbox:
    the escalation only needs them recorded as sent and unanswered."""
    queues = live.container.queues
    both = await queues.join(
        "PHARM", new_join_request(telegram_chat_id=4242, phone="+15551230007"), "staff:ana"
    )
    answers = await queues.join(
        "PHARM", new_join_request(telegram_chat_id=4343, phone="+15551230008"), "staff:ana"
    )
    await queues.ticket_action(both.ticket.id, "call", "staff:ana", counter="1")
    await queues.ticket_action(answers.ticket.id, "call", "staff:ana", counter="2")
    await live.container.patients.acknowledge(Patient.telegram(4343), answers.ticket.id)

    escalated = await live.sms("+15551230007", "it's your turn", timeout_s=5)
    assert "counter 1" in escalated.body

    async def recorded() -> bool:  # the SMS can reach Twilio before its send is recorded
        rows = await live.outbox(both.ticket.id)
        return all(r.status == "sent" for r in rows if r.kind == "called")

    await live.until(recorded)
    rows = await live.outbox(both.ticket.id)
    calls = {(r.channel, r.delivered_to) for r in rows if r.kind == "called"}
    assert calls == {("telegram", "dev_inbox"), ("sms", "sms")}
    await asyncio.sleep(1.5)  # past the escalation time of the one who answered
    assert live.notifications_to("+15551230008") == []
    assert len(live.notifications_to("+15551230007")) == 1  # escalated once
