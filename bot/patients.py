"""Patient commands: join by deep link or code, status, leave, late, travel time, language."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from bot.context import BotServices, minutes_and_queue, patient_of, reply
from core.domain.errors import InvalidValue, QueueFull
from core.domain.model import MAX_LATE, queue_code
from core.messages import LANGUAGE_NAMES, SUPPORTED_LANGUAGES
from core.services.errors import NotFound, SeveralTickets
from core.services.patients import eta_minutes

log = logging.getLogger(__name__)
DEEP_LINK_PREFIX = "q_"


async def start_with_link(message: Message, command: CommandObject, services: BotServices) -> None:
    payload = command.args or ""
    code = queue_code(payload[len(DEEP_LINK_PREFIX) :]) if payload.startswith("q_") else None
    if code is None:
        await reply(message, services, "bad_link")
        return
    await join_queue(message, services, code)


async def start(message: Message, services: BotServices) -> None:
    await reply(message, services, "help")


async def help_(message: Message, services: BotServices) -> None:
    await reply(message, services, "help")


async def join(message: Message, command: CommandObject, services: BotServices) -> None:
    args = (command.args or "").split()
    code = queue_code(args[0]) if args else None
    if code is None:
        await reply(message, services, "join_usage")
        return
    await join_queue(message, services, code)


async def join_queue(message: Message, services: BotServices, code: str) -> None:
    """Joins; the "joined" notification follows through the outbox like every other."""
    patient = patient_of(message)
    if await services.patients.language(patient) is None and message.from_user:
        language = message.from_user.language_code
        if language and language[:2] in SUPPORTED_LANGUAGES:
            await services.patients.set_language(patient, language[:2])
    try:
        joined = await services.patients.join(patient, code)
    except NotFound:
        await reply(message, services, "unknown_queue", code=code)
        return
    except QueueFull:
        await reply(message, services, "queue_full", code=code)
        return
    if joined.existing:
        info = await services.queues.get_queue(joined.ticket.queue)
        await reply(
            message,
            services,
            "already_in",
            number=joined.ticket.number,
            queue_name=info.name,
            position=joined.ticket.position,
            **eta_minutes(joined.estimate),
        )


async def status(message: Message, services: BotServices) -> None:
    tickets = await services.patients.status(patient_of(message))
    if not tickets:
        await reply(message, services, "status_none")
        return
    await reply(message, services, "status", tickets=tickets)


async def leave(message: Message, command: CommandObject, services: BotServices) -> None:
    code = queue_code(command.args.strip()) if command.args else None
    try:
        left = await services.patients.leave(patient_of(message), code)
    except NotFound:
        await reply(message, services, "status_none")
        return
    except InvalidValue:
        await reply(message, services, "leave_called")
        return
    await reply(message, services, "left", numbers=[t.number for t in left])


async def late(message: Message, command: CommandObject, services: BotServices) -> None:
    parsed = minutes_and_queue(command.args)
    if parsed is None:
        await reply(message, services, "late_usage")
        return
    minutes, code = parsed
    try:
        view = await services.patients.late(patient_of(message), minutes, code)
    except NotFound:
        await reply(message, services, "not_waiting")
        return
    except SeveralTickets as exc:
        await several(message, services, exc, f"/late {minutes} {exc.queues[0]}")
        return
    except InvalidValue:
        await reply(message, services, "late_limit")
        return
    await reply(
        message,
        services,
        "late_done",
        number=view.ticket.number,
        position=view.ticket.position,
        late_left=MAX_LATE - view.ticket.late_count,
        **eta_minutes(view.estimate),
    )


async def travel(message: Message, command: CommandObject, services: BotServices) -> None:
    parsed = minutes_and_queue(command.args)
    if parsed is None:
        await reply(message, services, "travel_usage")
        return
    minutes, code = parsed
    try:
        await services.patients.set_travel_time(patient_of(message), minutes, code)
    except NotFound:
        await reply(message, services, "not_waiting")
        return
    except SeveralTickets as exc:
        await several(message, services, exc, f"/travel {minutes} {exc.queues[0]}")
        return
    await reply(message, services, "travel_done", minutes=minutes)


async def several(
    message: Message, services: BotServices, exc: SeveralTickets, example: str
) -> None:
    queues = ", ".join(exc.queues)
    await reply(message, services, "several_queues", queues=queues, example=example)


async def lang(message: Message, command: CommandObject, services: BotServices) -> None:
    choice = (command.args or "").strip().lower()
    if choice not in SUPPORTED_LANGUAGES:
        languages = [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LANGUAGES]
        await reply(message, services, "lang_usage", languages=languages)
        return
    await services.patients.set_language(patient_of(message), choice)
    await reply(message, services, "lang_set", language_name=LANGUAGE_NAMES[choice])


async def anything_else(message: Message, services: BotServices) -> None:
    await reply(message, services, "unknown_command")


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one Dispatcher only."""
    router = Router(name="patients")
    router.message.register(start_with_link, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(join, Command("join"))
    router.message.register(status, Command("status"))
    router.message.register(leave, Command("leave"))
    router.message.register(late, Command("late"))
    router.message.register(travel, Command("travel"))
    router.message.register(lang, Command("lang"))
    router.message.register(anything_else, F.text)
    return router
