"""A Telegram patient's phone number, for the calls they miss here: after joining, a button
"Also text me if I miss a message" (Telegram's contact request) shares it; `/phone` removes it.

Only the sender's own contact is taken (`contact.user_id` is theirs): Telegram vouches for
that number, while a contact picked from the address book is somebody else's. The number is
kept on the patient's live tickets, so an unanswered call goes again by SMS
(`core.delivery.ladder`) and the number goes with the visit.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot.context import BotServices, patient_of
from core.domain.errors import InvalidValue
from core.messages import label, render_text
from core.phones import normalize_phone
from core.services.conversation import Reply

log = logging.getLogger(__name__)


def contact_keyboard(language: str) -> ReplyKeyboardMarkup:
    """The one button that asks Telegram for the patient's own number."""
    button = KeyboardButton(text=label("phone_button", language), request_contact=True)
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def telegram_phone(raw: str) -> str:
    """E.164 for the number Telegram gives: always international, with or without its `+`
    (by app), so never read as local to `NEXTUP_PHONE_REGION`."""
    text = raw.strip()
    return normalize_phone(text if text.startswith("+") else f"+{text}")


async def answer(message: Message, services: BotServices, reply: Reply, button: bool) -> None:
    """The conversation's answer, with the contact button under it or (`button` False) the
    button taken away: it is spent, or of no use now. Telegram asks for a contact in private
    chats only, and a group's number would be nobody's."""
    language = await services.language(patient_of(message), message.from_user)
    shown = button and message.chat.type == ChatType.PRIVATE
    markup = contact_keyboard(language) if shown else ReplyKeyboardRemove()
    await message.answer(render_text(reply.name, language, **reply.params), reply_markup=markup)


async def offer(message: Message, services: BotServices) -> None:
    """After a join, in a private chat: the button, and what it is for."""
    if message.chat.type == ChatType.PRIVATE:
        await answer(message, services, Reply("phone_offer"), button=True)


async def shared_contact(message: Message, services: BotServices) -> None:
    contact, sender = message.contact, message.from_user
    if (
        contact is None
        or sender is None
        or contact.user_id != sender.id
        or message.chat.type != ChatType.PRIVATE
    ):
        log.info("Telegram chat %s shared a contact not its own: refused", message.chat.id)
        await answer(message, services, Reply("phone_not_yours"), button=True)
        return
    try:
        phone = telegram_phone(contact.phone_number)
    except InvalidValue:
        await answer(message, services, Reply("phone_unreadable"), button=False)
        return
    reply = await services.conversation.give_phone(patient_of(message), phone)
    await answer(message, services, reply, button=False)


async def forget(message: Message, services: BotServices) -> None:
    reply = await services.conversation.forget_phone(patient_of(message))
    # Nothing to remove during a visit: the button comes back, should they want to give it.
    again = reply.name == "phone_none" and bool(reply.params.get("visit"))
    await answer(message, services, reply, button=again)


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one Dispatcher only."""
    router = Router(name="phone")
    router.message.register(shared_contact, F.contact)
    router.message.register(forget, Command("phone"))
    return router
