"""Inline buttons: "I'm on my way" under a call, and 1 to 5 under "done"."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.types import CallbackQuery, InaccessibleMessage

from bot.context import BotServices
from core.domain.errors import DomainError, IllegalTransition
from core.domain.numbers import whole_number
from core.messages import render_text
from core.services.errors import Forbidden, NotFound
from core.services.patients import Patient

log = logging.getLogger(__name__)


async def answer(query: CallbackQuery, services: BotServices, name: str, **params: object) -> None:
    patient = Patient.telegram(query.from_user.id)
    language = await services.language(patient, query.from_user)
    await query.answer(render_text(name, language, **params))


async def drop_buttons(query: CallbackQuery) -> None:
    """Buttons that were used (or are stale) go, so nobody presses them again."""
    if query.message is not None and not isinstance(query.message, InaccessibleMessage):
        await query.message.edit_reply_markup(reply_markup=None)


async def on_my_way(query: CallbackQuery, services: BotServices) -> None:
    ticket_id = (query.data or "")[len("ack:") :]
    patient = Patient.telegram(query.from_user.id)
    try:
        await services.patients.acknowledge(patient, ticket_id)
    except (Forbidden, NotFound):
        log.warning("chat %s pressed a button of a ticket not theirs", query.from_user.id)
        await answer(query, services, "not_yours")
        return
    except IllegalTransition:
        await answer(query, services, "ack_stale")
        await drop_buttons(query)
        return
    await answer(query, services, "ack_thanks")
    await drop_buttons(query)


async def rate(query: CallbackQuery, services: BotServices) -> None:
    parts = (query.data or "").split(":")
    score = whole_number(parts[2]) if len(parts) == 3 else None
    if score is None:
        await answer(query, services, "unknown_command")
        return
    patient = Patient.telegram(query.from_user.id)
    try:
        await services.patients.rate(patient, parts[1], score)
    except (Forbidden, NotFound):
        log.warning("chat %s pressed a button of a ticket not theirs", query.from_user.id)
        await answer(query, services, "not_yours")
        return
    except DomainError:  # not finished yet, or a score out of range
        await answer(query, services, "rate_stale")
        return
    await answer(query, services, "rated", score=score)
    await drop_buttons(query)


async def unknown_button(query: CallbackQuery, services: BotServices) -> None:
    await answer(query, services, "unknown_command")


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one Dispatcher only."""
    router = Router(name="buttons")
    router.callback_query.register(on_my_way, F.data.startswith("ack:"))
    router.callback_query.register(rate, F.data.startswith("rate:"))
    router.callback_query.register(unknown_button)
    return router
