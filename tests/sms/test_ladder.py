"""The call ladder end to end: a call nobody answers goes on by SMS, then by a Twilio voice
call, then the board shows the ticket "unreachable"; each step once, at its time, also
across a dispatcher killed mid-ladder and restarted beside another. The real twilio client
places the calls against the emulator, whose signed status callbacks come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from core.bus import Subscription
from core.domain.ladder import Rung, Step
from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from core.storage.models import OutboxMessage, TicketRow
from tests.emulators.twilio import TwilioEmulator
from tests.sms.conftest import NUMBERS, PUBLIC_URL, LiveSms, live_sms

PHONE = "+15551230007"
CHAT = 4242
LADDER = (Rung(Step.SMS, 1), Rung(Step.VOICE, 1), Rung(Step.UNREACHABLE, 1))
POLL_SLACK_S = 0.9
"""The dispatcher looks at ladders every 0.2 s here; a step may come that much late, plus
a loaded machine's scheduling."""


@pytest.fixture
async def live(migrated: str, twilio: TwilioEmulator) -> AsyncIterator[LiveSms]:
    twilio.call_step_s = 0.1
    async with live_sms(migrated, twilio, twilio_voice_from=NUMBERS[0]) as running:
        config = QueueConfig(default_service_s=300, call_ladder=LADDER)
        await running.container.queues.create_queue(
            "PHARM", "Pharmacy", "A", config, ["1"], public_name="Pharmacy"
        )
        yield running


async def call_telegram_patient(live: LiveSms, phone: str | None = PHONE) -> str:
    """A patient who joined on Telegram (no token here: its messages go to the dev inbox,
    recorded as sent), with a phone, called to counter 1."""
    queues = live.container.queues
    joined = await queues.join(
        "PHARM", new_join_request(telegram_chat_id=CHAT, phone=phone), "staff:ana"
    )
    await queues.ticket_action(joined.ticket.id, "call", "staff:ana", counter="1")
    return joined.ticket.id


async def steps(live: LiveSms, ticket_id: str) -> dict[str, list[OutboxMessage]]:
    by_channel: dict[str, list[OutboxMessage]] = {}
    for row in await live.outbox(ticket_id):
        if row.kind == "called":
            by_channel.setdefault(row.channel, []).append(row)
    return by_channel


async def unreachable(ticket_id: str) -> bool:
    return (await TicketRow.get(id=ticket_id)).unreachable_at is not None


async def events(subscription: Subscription, until_type: str, timeout_s: float) -> list[str]:
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while until_type not in seen:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"no {until_type} event; saw {seen}")
        message = await subscription.get(timeout_s=left)
        if message is not None:
            seen.append(message["type"])
    return seen


async def test_a_patient_who_never_answers_climbs_every_rung_once(
    live: LiveSms, twilio: TwilioEmulator
) -> None:
    twilio.call_outcomes[PHONE] = "no-answer"
    feed = await live.container.bus.subscribe()
    try:
        ticket_id = await call_telegram_patient(live)
        seen = await events(feed, "ticket_unreachable", timeout_s=10)
    finally:
        await feed.close()
    assert seen.index("ticket_called") < seen.index("ticket_unreachable")

    ticket = await TicketRow.get(id=ticket_id)
    records = await steps(live, ticket_id)
    [call], [sms], [voice] = records["telegram"], records["sms"], records["voice"]
    assert call.sent_at is not None and sms.sent_at is not None and voice.sent_at is not None
    # Each step at its time: a second after the one before went out, never sooner.
    sms_after_s = (sms.created_at - call.sent_at).total_seconds()
    voice_after_s = (voice.created_at - sms.sent_at).total_seconds()
    assert 1.0 <= sms_after_s <= 1.0 + POLL_SLACK_S
    assert 1.0 <= voice_after_s <= 1.0 + POLL_SLACK_S
    # The call rang out: "unreachable" at once, without waiting out its rung's second.
    assert voice.provider_status == "no-answer"
    assert ticket.unreachable_at is not None
    assert ticket.unreachable_at - voice.sent_at < timedelta(seconds=1.0 + POLL_SLACK_S)
    assert "nobody answered" in (voice.last_error or "")

    # What the patient got: one SMS, one call that said the number and counter twice.
    assert [m.body for m in live.notifications_to(PHONE)] == [
        "Pharmacy: A-001, it's your turn! Please go to counter 1 now."
    ]
    [placed] = twilio.calls_to(PHONE)
    assert placed.from_ == NUMBERS[0]
    assert placed.statuses == ["queued", "initiated", "ringing", "no-answer"]
    assert len(placed.said) == 2 and placed.said[0] == placed.said[1]
    text, language = placed.said[0]
    assert "A 001" in text and "counter 1" in text and language == "en-US"

    # The board says so.
    status = await live.container.queues.status("PHARM")
    assert status.queue.tickets[ticket_id].unreachable_at is not None

    await asyncio.sleep(1.5)  # nothing more, however long it stays called
    assert len(twilio.calls_to(PHONE)) == 1 and len(live.notifications_to(PHONE)) == 1


async def test_a_dispatcher_killed_mid_ladder_and_restarted_takes_no_step_twice(
    live: LiveSms, twilio: TwilioEmulator
) -> None:
    twilio.call_outcomes[PHONE] = "busy"
    ticket_id = await call_telegram_patient(live)
    await live.sms(PHONE, "it's your turn", timeout_s=5)
    live_task = live.dispatcher_task
    live_task.cancel()  # the dispatcher dies just after the SMS step
    await asyncio.wait([live_task], timeout=10)

    # Two come back at once, on the same outbox.
    again = [live.container.notification_dispatcher(poll_interval_s=0.2) for _ in range(2)]
    tasks = [asyncio.create_task(d.run()) for d in again]
    try:
        await live.until(lambda: unreachable(ticket_id), timeout_s=10)
        await asyncio.sleep(1.5)  # every dispatcher has looked again since
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=10)
        for dispatcher in again:
            await dispatcher.close()
    records = await steps(live, ticket_id)
    assert [len(records[c]) for c in ("telegram", "sms", "voice")] == [1, 1, 1]
    assert len(live.notifications_to(PHONE)) == 1
    assert [c.statuses[-1] for c in twilio.calls_to(PHONE)] == ["busy"]
    audit = await live.container.queues.ticket_view(ticket_id)
    assert [e.type for e in audit.history].count("ticket_unreachable") == 1


async def test_an_answered_voice_call_stops_the_ladder(
    live: LiveSms, twilio: TwilioEmulator
) -> None:
    ticket_id = await call_telegram_patient(live)  # the emulator answers calls by default
    placed = await twilio.wait_for_call(PHONE, status="completed", timeout_s=10)
    assert placed.statuses == ["queued", "initiated", "ringing", "in-progress", "completed"]

    async def completed() -> bool:
        [voice] = (await steps(live, ticket_id))["voice"]
        return voice.provider_status == "completed"

    await live.until(completed)
    await asyncio.sleep(1.5)  # past the "unreachable" rung's second
    assert not await unreachable(ticket_id)


async def test_an_sms_reply_acknowledging_the_call_stops_the_ladder(
    live: LiveSms, twilio: TwilioEmulator
) -> None:
    ticket_id = await call_telegram_patient(live)
    await live.sms(PHONE, "it's your turn", timeout_s=5)
    assert await live.reply(PHONE, "Ok!") == "Thanks! The staff know you are on your way."

    ticket = await TicketRow.get(id=ticket_id)
    assert ticket.acknowledged_at is not None
    await asyncio.sleep(2.5)  # past the voice and "unreachable" rungs
    assert twilio.calls_to(PHONE) == []
    assert not await unreachable(ticket_id)
    assert {r.status for rows in (await steps(live, ticket_id)).values() for r in rows} == {
        "acknowledged"
    }


async def test_yes_acknowledges_a_call_and_otherwise_opts_in(live: LiveSms) -> None:
    """YES is also an opt-in word: while the sender's ticket is called it answers the call
    first (and opts in as Twilio does); at any other time it only opts in."""
    assert await live.reply(PHONE, "YES") == (
        "You will get queue texts again. Text HELP for help, STOP to end texts."
    )
    joined = await live.container.queues.join("PHARM", new_join_request(phone=PHONE), "staff:ana")
    await live.container.queues.ticket_action(joined.ticket.id, "call", "staff:ana", counter="1")
    await live.sms(PHONE, "it's your turn")
    assert await live.reply(PHONE, "si") == "Thanks! The staff know you are on your way."
    assert (await TicketRow.get(id=joined.ticket.id)).acknowledged_at is not None


async def test_voice_status_callbacks_must_be_signed_and_never_go_back(
    live: LiveSms, twilio: TwilioEmulator
) -> None:
    twilio.call_step_s = 0.4  # slow enough to see each status on the record
    ticket_id = await call_telegram_patient(live)

    async def voice_row() -> OutboxMessage:
        return (await steps(live, ticket_id))["voice"][0]

    seen: list[str | None] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not seen or seen[-1] != "completed":
        assert loop.time() < deadline, (seen, twilio.dump())
        voice = (await steps(live, ticket_id)).get("voice")
        status = voice[0].provider_status if voice else None
        if status is not None and (not seen or seen[-1] != status):
            seen.append(status)
        await asyncio.sleep(0.03)
    # Recorded in the order the call went (each status seen at least once, none out of turn).
    order = ["queued", "initiated", "ringing", "in-progress", "completed"]
    assert seen == sorted(seen, key=order.index) and len(seen) >= 4, seen
    row = await voice_row()
    url = f"{PUBLIC_URL}/hooks/twilio/voice-status?n={row.id}"
    # Every callback the emulator posted was accepted, in the order the call went.
    posted = [c for c in twilio.callbacks if "voice-status" in c.url]
    assert [c.params["CallStatus"] for c in posted] == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    assert {c.status for c in posted} == {204}

    forged = {"CallSid": row.provider_message_id or "", "CallStatus": "busy"}
    for signature in (None, "bm90IGEgc2lnbmF0dXJl"):
        status, _ = await twilio.post_signed(url, forged, signature=signature)
        assert status == 403
    signed_for_another_url = twilio._sign(f"{PUBLIC_URL}/hooks/twilio/status?n={row.id}", forged)
    status, _ = await twilio.post_signed(url, forged, signature=signed_for_another_url)
    assert status == 403
    assert (await voice_row()).provider_status == "completed"

    late = {"CallSid": row.provider_message_id or "", "CallStatus": "ringing"}
    status, _ = await twilio.post_signed(url, late)  # signed, but older news
    assert status == 204
    assert (await voice_row()).provider_status == "completed"
    status, _ = await twilio.post_signed(url, {"CallSid": "CA1", "CallStatus": ""})
    assert status == 400


async def test_a_queue_without_a_ladder_leaves_an_unanswered_call_alone(
    live: LiveSms, twilio: TwilioEmulator
) -> None:
    queues = live.container.queues
    await queues.create_queue("LAB", "Lab", "L", QueueConfig(call_ladder=()), ["1"])
    joined = await queues.join(
        "LAB", new_join_request(telegram_chat_id=CHAT, phone=PHONE), "staff:ana"
    )
    await queues.ticket_action(joined.ticket.id, "call", "staff:ana", counter="1")
    await asyncio.sleep(2.5)  # past every rung PHARM's ladder would have taken
    assert live.notifications_to(PHONE) == [] and twilio.calls_to(PHONE) == []
    assert not await unreachable(joined.ticket.id)


async def test_a_number_twilio_refuses_fails_each_step_at_once(
    live: LiveSms, twilio: TwilioEmulator
) -> None:
    twilio.invalid_numbers.add(PHONE)
    ticket_id = await call_telegram_patient(live)
    await live.until(lambda: unreachable(ticket_id), timeout_s=10)
    records = await steps(live, ticket_id)
    [sms], [voice] = records["sms"], records["voice"]
    assert (sms.status, voice.status) == ("failed", "failed")
    assert "cannot be called" in (voice.last_error or "")
    # No waiting out the rungs' seconds: nothing could be delivered.
    ticket = await TicketRow.get(id=ticket_id)
    assert ticket.unreachable_at is not None
    [call] = records["telegram"]
    assert call.sent_at is not None
    assert ticket.unreachable_at - call.sent_at < timedelta(seconds=1 + 2 * POLL_SLACK_S)
    assert twilio.calls == []
