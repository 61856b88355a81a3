"""Inline buttons: "I'm on my way" under a call, and 1 to 5 under "done"."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, InaccessibleMessage

from bot.context import BotServices
from core.domain.numbers import whole_number
from core.messages import render_text
from core.services.conversation import Reply
from core.services.patients import Patient


async def answer(query: CallbackQuery, services: BotServices, reply: Reply) -> None:
    """Shows the conversation's answer on the button, then drops the buttons it spent."""
    patient = Patient.telegram(query.from_user.id)
    language = await services.language(patient, query.from_user)
    await query.answer(render_text(reply.name, language, **reply.params))
    if reply.buttons_spent:
        await drop_buttons(query)


async def drop_buttons(query: CallbackQuery) -> None:
    """Buttons that were used (or are stale) go, so nobody presses them again."""
    if query.message is not None and not isinstance(query.message, InaccessibleMessage):
        await query.message.edit_reply_markup(reply_markup=None)


async def on_my_way(query: CallbackQuery, services: BotServices) -> None:
    ticket_id = (query.data or "")[len("ack:") :]
    patient = Patient.telegram(query.from_user.id)
    await answer(query, services, await services.conversation.acknowledge(patient, ticket_id))


async def rate(query: CallbackQuery, services: BotServices) -> None:
    parts = (query.data or "").split(":")
    score = whole_number(parts[2]) if len(parts) == 3 else None
    patient = Patient.telegram(query.from_user.id)
    if score is None:
        await answer(query, services, services.conversation.not_understood(patient))
        return
    await answer(query, services, await services.conversation.rate(patient, parts[1], score))


async def unknown_button(query: CallbackQuery, services: BotServices) -> None:
    patient = Patient.telegram(query.from_user.id)
    await answer(query, services, services.conversation.not_understood(patient))


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one Dispatcher only."""
    router = Router(name="buttons")
    router.callback_query.register(on_my_way, F.data.startswith("ack:"))
    router.callback_query.register(rate, F.data.startswith("rate:"))
    router.callback_query.register(unknown_button)
    return router
