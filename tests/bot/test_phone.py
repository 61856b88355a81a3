"""A Telegram patient gives their phone number for the calls they miss there: the real aiogram
bot polling the Telegram emulator, and the real twilio client sending to the Twilio emulator
(whose status callbacks come back to the app's signed webhook)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.domain.ladder import Rung, Step
from core.domain.model import QueueConfig
from core.redact import mask_phone
from core.storage.models import OutboxMessage, TicketRow
from sms.webhooks import sms_blueprint
from tests.bot.conftest import Live, live_nextup
from tests.emulators.telegram import TelegramEmulator
from tests.emulators.twilio import TwilioEmulator
from tests.servers import serve, shut
from web.app import create_app

PUBLIC_URL = "https://queue.example.org"
PATIENT = 501
PHONE = "+15551230077"
ESCALATE_AFTER_S = 1
"""The queue's call ladder: an unanswered call goes by SMS after this long, then stops."""


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioEmulator]:
    async with TwilioEmulator(numbers=("+15550000001",)) as emulator:
        yield emulator


@pytest.fixture
async def live(migrated: str, tg: TelegramEmulator, twilio: TwilioEmulator) -> AsyncIterator[Live]:
    settings = {
        "public_url": PUBLIC_URL,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "twilio_from": ",".join(twilio.numbers),
        "twilio_api_base": twilio.base_url,
    }
    async with live_nextup(migrated, tg, settings=settings) as running:
        container = running.container
        app = create_app(container, name=f"phone{id(twilio)}")
        app.blueprint(sms_blueprint(container.sms, twilio.auth_token, PUBLIC_URL))
        server, local_url = await serve(app)
        twilio.callback_base = local_url
        await container.queues.create_queue(
            "PHARM",
            "Pharmacy",
            "A",
            QueueConfig(default_service_s=300, call_ladder=(Rung(Step.SMS, ESCALATE_AFTER_S),)),
            ["1", "2"],
            public_name="Pharmacy",
        )
        try:
            yield running
        finally:
            await twilio.cancel_callbacks()
            await shut(server)


async def join(live: Live, chat_id: int, language_code: str = "en") -> TicketRow:
    """Joins PHARM by the bot; returns the ticket once the offer of the button is shown."""
    await live.say(chat_id, "/join PHARM", language_code=language_code)
    await live.tg.wait_for_message(chat_id, "Pharmacy")  # the "joined" notification
    contains = (
        "In case you miss a message" if language_code == "en" else "Por si se le pasa un mensaje"
    )
    await live.tg.wait_for_message(chat_id, contains)
    return await TicketRow.get(telegram_chat_id=chat_id)


async def until_stored(ticket_id: str, phone: str | None) -> None:
    for _ in range(250):
        if (await TicketRow.get(id=ticket_id)).phone == phone:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"ticket {ticket_id} never got phone {phone!r}")


async def test_a_missed_telegram_call_is_texted_to_the_number_the_patient_shared(
    live: Live, twilio: TwilioEmulator
) -> None:
    ticket = await join(live, PATIENT)
    [offer] = await live.tg.wait_for_message(PATIENT, "In case you miss a message")
    assert live.tg.contact_button(PATIENT) == {
        "text": "Also text me if I miss a message",
        "request_contact": True,
    }
    assert offer.reply_markup is not None and offer.reply_markup["one_time_keyboard"]

    live.tg.set_phone(PATIENT, PHONE[1:])  # Telegram's apps often leave out the "+"
    await live.tg.share_own_contact(PATIENT)
    saved = await live.tg.wait_for_message(PATIENT, f"we will text it to {mask_phone(PHONE)}")
    assert saved[0].reply_markup == {"remove_keyboard": True}
    await until_stored(ticket.id, PHONE)

    await live.container.queues.ticket_action(ticket.id, "call", "staff:ana", counter="2")
    await live.tg.wait_for_message(PATIENT, "your turn")  # on Telegram, and not answered
    texted = await twilio.wait_for_message(PHONE, "it's your turn", timeout_s=8)
    assert "counter 2" in texted[0].body

    async def recorded() -> bool:
        rows = await OutboxMessage.filter(ticket_id=ticket.id, kind="called")
        return {(r.channel, r.recipient, r.provider_status) for r in rows} == {
            ("telegram", str(PATIENT), None),
            ("sms", PHONE, "delivered"),
        }

    await wait(recorded)
    await asyncio.sleep(ESCALATE_AFTER_S + 0.5)
    assert len(twilio.messages_to(PHONE)) == 1  # escalated once


async def test_a_contact_of_somebody_else_is_refused(live: Live, twilio: TwilioEmulator) -> None:
    ticket = await join(live, PATIENT, language_code="es")
    # a card from the address book: another Telegram user's, then someone not on Telegram
    await live.tg.user_contact(PATIENT, "+15551230088", user_id=777)
    refused = await live.tg.wait_for_message(PATIENT, "Comparta su propio número")
    assert refused[0].reply_markup is not None
    assert refused[0].reply_markup["keyboard"][0][0]["request_contact"] is True
    await live.tg.user_contact(PATIENT, "+15551230089")
    await live.tg.wait_for_message(PATIENT, "Comparta su propio número", count=2)
    assert live.tg.contact_button(PATIENT) is not None  # still there to use
    assert (await TicketRow.get(id=ticket.id)).phone is None

    await live.container.queues.ticket_action(ticket.id, "call", "staff:ana", counter="1")
    await live.tg.wait_for_message(PATIENT, "su turno")
    await asyncio.sleep(ESCALATE_AFTER_S + 1.0)
    assert twilio.messages == []  # nobody's number was taken, so nobody is texted


async def test_phone_removes_the_number_and_then_no_text_goes(
    live: Live, twilio: TwilioEmulator
) -> None:
    ticket = await join(live, PATIENT)
    live.tg.set_phone(PATIENT, PHONE)
    await live.tg.share_own_contact(PATIENT)
    await live.tg.wait_for_message(PATIENT, "we will text it to")
    await until_stored(ticket.id, PHONE)

    removed = await live.reply_to(PATIENT, "/phone", "Your phone number is removed")
    assert removed.reply_markup == {"remove_keyboard": True}
    assert (await TicketRow.get(id=ticket.id)).phone is None
    # again: nothing to remove now, and the button comes back should they want it
    await live.reply_to(PATIENT, "/phone", "We have no phone number of yours. Tap")
    assert live.tg.contact_button(PATIENT) is not None

    await live.container.queues.ticket_action(ticket.id, "call", "staff:ana", counter="1")
    await live.tg.wait_for_message(PATIENT, "your turn")
    await asyncio.sleep(ESCALATE_AFTER_S + 1.0)
    assert twilio.messages == []
    assert not await OutboxMessage.filter(ticket_id=ticket.id, channel="sms").exists()


async def test_a_contact_without_a_visit_is_not_kept(live: Live) -> None:
    live.tg.set_phone(PATIENT, PHONE)
    await live.tg.user_contact(PATIENT, PHONE, user_id=PATIENT)
    await live.tg.wait_for_message(PATIENT, "You are not in any queue. Join one first")
    await live.reply_to(PATIENT, "/phone", "We have no phone number of yours.")
    assert live.tg.contact_button(PATIENT) is None
    assert not await TicketRow.exists()


async def test_help_lists_the_button_and_phone(live: Live) -> None:
    help_en = await live.reply_to(PATIENT, "/help", "/phone")
    assert '"Also text me if I miss a message"' in help_en.text
    help_es = await live.reply_to(PATIENT + 1, "/help", "/phone", language_code="es")
    assert "«Avísenme también por SMS si no veo un mensaje»" in help_es.text
    assert {"command": "phone", "description": "Remove the phone number you gave"} in (
        live.tg.commands
    )


async def wait(check: object, timeout_s: float = 8) -> None:
    assert callable(check)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s")
        await asyncio.sleep(0.02)


async def test_a_group_chat_is_offered_no_button_and_gives_no_number(live: Live) -> None:
    group, member = -600, 601
    await live.say(group, "/join PHARM", from_user=member)
    await live.tg.wait_for_message(group, "Pharmacy")
    ticket = await TicketRow.get(telegram_chat_id=group)
    # the member's own contact, but in a group: the ticket is the group's, not theirs
    await live.tg.user_contact(group, PHONE, user_id=member, from_user=member)
    [refused] = await live.tg.wait_for_message(group, "Please share your own number")
    assert refused.reply_markup == {"remove_keyboard": True}  # no contact button in a group
    assert not [m for m in live.tg.messages_to(group) if "In case you miss" in m.text]
    assert (await TicketRow.get(id=ticket.id)).phone is None
