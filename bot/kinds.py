"""The kind of visit: after a join to a queue that offers kinds, "What is your visit for?"
with a button per kind and "Not sure"; `/kind` asks again. A press sets the ticket's kind
(`PatientConversation.choose_kind`) and the question is replaced by the answer: the ticket's
place and wait with it.

Telegram carries at most 64 bytes of callback data: `kind:<ticket>:<kind>`, with the
ticket's UUID in 22 characters of base64 and the kind's key (at most 32), fits; an empty
kind is "not sure".
"""

from __future__ import annotations

import base64
import binascii
import uuid

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.context import BotServices, patient_of, reply
from core.messages import kind_choices, label, render_text
from core.services.conversation import Reply
from core.services.patients import Patient

PREFIX = "kind:"


def compact_id(ticket_id: str) -> str:
    """A ticket's UUID in 22 characters (any other id as it is)."""
    try:
        raw = uuid.UUID(ticket_id).bytes
    except ValueError:
        return ticket_id
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def full_id(compact: str) -> str:
    if len(compact) != 22:
        return compact
    try:
        return str(uuid.UUID(bytes=base64.urlsafe_b64decode(compact + "==")))
    except (binascii.Error, ValueError):
        return compact


def callback_data(ticket_id: str, kind: str | None) -> str:
    return f"{PREFIX}{compact_id(ticket_id)}:{kind or ''}"


def parsed(data: str) -> tuple[str, str | None] | None:
    """(ticket id, kind or None for "not sure") of a button's data; None: not one of ours."""
    ticket, sep, kind = data[len(PREFIX) :].partition(":")
    if not sep or not ticket:
        return None
    return full_id(ticket), kind or None


def keyboard(question: Reply, language: str) -> InlineKeyboardMarkup:
    """A button per kind the queue offers (two to a row), then "Not sure"."""
    ticket_id = question.ticket_id or ""
    kinds = [
        InlineKeyboardButton(text=shown, callback_data=callback_data(ticket_id, key))
        for key, shown in kind_choices(question.params["kinds"], language)
    ]
    rows = [kinds[i : i + 2] for i in range(0, len(kinds), 2)]
    not_sure = label("kind_not_sure", language)
    rows.append([InlineKeyboardButton(text=not_sure, callback_data=callback_data(ticket_id, None))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def ask(message: Message, services: BotServices, question: Reply) -> None:
    language = await services.language(patient_of(message), message.from_user)
    text = render_text(question.name, language, **question.params)
    await message.answer(text, reply_markup=keyboard(question, language))


async def ask_after_join(message: Message, services: BotServices, code: str) -> None:
    """The question, when the patient's new ticket in `code` has no kind yet and the queue
    offers kinds."""
    question = await services.conversation.kind_question(
        patient_of(message), code, unknown_only=True
    )
    if question is not None:
        await ask(message, services, question)


async def kind_command(message: Message, services: BotServices) -> None:
    question = await services.conversation.kind_question(patient_of(message))
    if question is None:
        await reply(message, services, "kind_none")
        return
    await ask(message, services, question)


async def chosen(query: CallbackQuery, services: BotServices) -> None:
    patient = Patient.telegram(query.from_user.id)
    language = await services.language(patient, query.from_user)
    button = parsed(query.data or "")
    if button is None:
        answer = services.conversation.not_understood(patient)
    else:
        answer = await services.conversation.choose_kind(patient, *button)
    text = render_text(answer.name, language, **answer.params)
    await query.answer(text[:200])  # Telegram's limit for the notice on the button
    message = query.message
    if (
        answer.buttons_spent
        and message is not None
        and not isinstance(message, InaccessibleMessage)
    ):
        # The question gives way to its answer: the chat keeps what was chosen.
        await message.edit_text(text, reply_markup=None)


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one Dispatcher only."""
    router = Router(name="kinds")
    router.callback_query.register(chosen, F.data.startswith(PREFIX))
    router.message.register(kind_command, Command("kind"))
    return router
