"""The dev-inbox Bot API: aiogram's own Bot, over a session that answers locally into the
dev inbox, and the simulator that feeds the real dispatcher as a patient would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from bot.dev_session import DEV_BOT_USERNAME, DevInboxSession, dev_bot
from core.domain.model import QueueConfig
from core.storage.models import DevInboxMessage, TicketRow
from nextup.wiring import Container

CHAT = 100001


@pytest.fixture
async def bot(container: Container) -> AsyncIterator[Bot]:
    bot = dev_bot()
    yield bot
    await bot.session.close()


def ack_keyboard(data: str = "ack:t1") -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text="I'm on my way", callback_data=data)
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def test_a_sent_message_is_a_dev_inbox_row_and_a_real_message(bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Your turn,\ncounter 2", reply_markup=ack_keyboard())
    row = await DevInboxMessage.get(id=sent.message_id)
    assert (row.channel, row.recipient, row.text) == (
        "telegram",
        str(CHAT),
        "Your turn,\ncounter 2",
    )
    assert row.buttons == [[{"label": "I'm on my way", "data": "ack:t1"}]]
    assert row.outbox_id is None
    assert sent.chat.id == CHAT and sent.text == row.text
    assert sent.from_user is not None and sent.from_user.username == DEV_BOT_USERNAME
    assert isinstance(sent.reply_markup, InlineKeyboardMarkup)
    [[button]] = sent.reply_markup.inline_keyboard
    assert (button.text, button.callback_data) == ("I'm on my way", "ack:t1")
    assert sent.bot is bot  # bound, so shortcuts like `sent.edit_text` work


async def test_edits_change_the_row_and_an_edit_without_keyboard_drops_it(bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Called", reply_markup=ack_keyboard())
    edited = await sent.edit_text("Called (seen)", reply_markup=ack_keyboard("ack:t2"))
    assert not isinstance(edited, bool) and edited.text == "Called (seen)"
    row = await DevInboxMessage.get(id=sent.message_id)
    assert (row.text, row.buttons) == (
        "Called (seen)",
        [[{"label": "I'm on my way", "data": "ack:t2"}]],
    )

    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=sent.message_id)
    assert (await DevInboxMessage.get(id=sent.message_id)).buttons == []


async def test_what_telegram_would_refuse_is_refused_with_its_own_error(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=999_999)
    other = await bot.send_message(CHAT + 1, "not yours")
    with pytest.raises(TelegramBadRequest, match="not found"):  # right id, wrong chat
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=other.message_id)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message("@somechannel", "hello")
    with pytest.raises(TelegramBadRequest, match="does not emulate SendDice"):
        await bot.send_dice(CHAT)
    assert await DevInboxMessage.filter(recipient=str(CHAT)).count() == 0


async def test_the_bot_methods_without_a_message_succeed(bot: Bot) -> None:
    me = await bot.me()
    assert (me.username, me.is_bot, me.id) == (DEV_BOT_USERNAME, True, bot.id)
    assert await bot.set_my_commands([BotCommand(command="status", description="Status")])
    assert await bot.delete_webhook()
    assert await bot.send_chat_action(CHAT, "typing")
    assert await bot.answer_callback_query("q1", text="Thanks!")
    session = bot.session
    assert isinstance(session, DevInboxSession)
    assert session.callback_answers == {"q1": "Thanks!"}
    sent = await bot.send_message(CHAT, "bye")
    assert await bot.delete_message(CHAT, sent.message_id)
    assert not await DevInboxMessage.filter(id=sent.message_id).exists()


async def test_the_simulated_patient_talks_to_the_real_handlers(container: Container) -> None:
    await container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
    simulator = container.simulated_telegram()
    assert simulator is container.simulated_telegram()  # built once
    assert container.telegram is None  # no token: the dev inbox is the Bot API

    await simulator.say(CHAT, "/start q_PHARM")
    ticket = await TicketRow.get(telegram_chat_id=CHAT)
    assert ticket.number == "A-001"
    [offer] = await DevInboxMessage.filter(recipient=str(CHAT)).values_list("text", flat=True)
    assert "In case you miss a message here" in str(offer)  # the bot's offer of the contact button
    await simulator.say(CHAT, "/status")
    texts = await DevInboxMessage.filter(recipient=str(CHAT)).values_list("text", flat=True)
    assert len(texts) == 2 and any("A-001" in str(t) for t in texts)

    await container.queues.call_next("PHARM", "1", "staff:ana")
    # What the notification dispatcher's dev-inbox sender writes for the "called" message.
    called = await DevInboxMessage.create(
        channel="telegram",
        recipient=str(CHAT),
        text="It's your turn",
        buttons=[[{"label": "I'm on my way", "data": f"ack:{ticket.id}"}]],
    )
    notice = await simulator.press(CHAT, called.id, f"ack:{ticket.id}")
    assert notice is not None and "on your way" in notice
    assert (await TicketRow.get(id=ticket.id)).acknowledged_at is not None
    assert (await DevInboxMessage.get(id=called.id)).buttons == []  # used: gone

    with pytest.raises(LookupError):  # it is gone, so it cannot be pressed again
        await simulator.press(CHAT, called.id, f"ack:{ticket.id}")
    with pytest.raises(LookupError):  # another chat's message
        await simulator.press(CHAT + 1, called.id, f"ack:{ticket.id}")


async def test_a_press_on_someone_elses_ticket_is_refused_by_the_bot(
    container: Container,
) -> None:
    await container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
    simulator = container.simulated_telegram()
    await simulator.say(CHAT + 7, "/join PHARM")
    other = await TicketRow.get(telegram_chat_id=CHAT + 7)
    await container.queues.call_next("PHARM", "1", "staff:ana")
    forged = await DevInboxMessage.create(
        channel="telegram",
        recipient=str(CHAT),
        text="It's your turn",
        buttons=[[{"label": "I'm on my way", "data": f"ack:{other.id}"}]],
    )
    notice = await simulator.press(CHAT, forged.id, f"ack:{other.id}")
    assert notice is not None and "someone else" in notice
    assert (await TicketRow.get(id=other.id)).acknowledged_at is None
