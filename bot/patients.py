"""Patient commands: join by deep link or code, status, leave, late, travel time, language
(a phone number for missed calls: `bot.phone`; the kind of visit: `bot.kinds`).

Each handler reads its command and sends what `PatientConversation` answers; the replies
to input that is not a command's are the only ones chosen here.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from bot import kinds, phone
from bot.context import BotServices, minutes_and_queue, patient_of, reply, say
from core.domain.consent import TELEGRAM_DEEP_LINK
from core.domain.model import queue_code

DEEP_LINK_PREFIX = "q_"


async def start_with_link(message: Message, command: CommandObject, services: BotServices) -> None:
    payload = command.args or ""
    code = queue_code(payload[len(DEEP_LINK_PREFIX) :]) if payload.startswith("q_") else None
    if code is None:
        await reply(message, services, "bad_link")
        return
    await join_queue(message, services, code, TELEGRAM_DEEP_LINK)


async def start(message: Message, services: BotServices) -> None:
    await say(message, services, services.conversation.help())


async def help_(message: Message, services: BotServices) -> None:
    await say(message, services, services.conversation.help())


async def join(message: Message, command: CommandObject, services: BotServices) -> None:
    args = (command.args or "").split()
    code = queue_code(args[0]) if args else None
    if code is None:
        await reply(message, services, "join_usage")
        return
    await join_queue(message, services, code)


async def join_queue(
    message: Message, services: BotServices, code: str, consent: str | None = None
) -> None:
    """Joins; the "joined" notification follows through the outbox like every other. A new
    ticket gets the offer to text a call the patient misses here; then a ticket whose kind
    of visit is not known yet gets the question, when its queue offers kinds (last: its
    buttons are the thing to press). `consent`: how the patient asked to be messaged, when
    not by `/join` (the default)."""
    app_language = message.from_user.language_code if message.from_user else None
    answer = await services.conversation.join(patient_of(message), code, app_language, consent)
    await say(message, services, answer)
    if answer is None:
        await phone.offer(message, services)
    await kinds.ask_after_join(message, services, code)


async def status(message: Message, services: BotServices) -> None:
    await say(message, services, await services.conversation.status(patient_of(message)))


async def leave(message: Message, command: CommandObject, services: BotServices) -> None:
    code = queue_code(command.args.strip()) if command.args else None
    await say(message, services, await services.conversation.leave(patient_of(message), code))


async def late(message: Message, command: CommandObject, services: BotServices) -> None:
    parsed = minutes_and_queue(command.args)
    if parsed is None:
        await reply(message, services, "late_usage")
        return
    minutes, code = parsed
    answer = await services.conversation.late(patient_of(message), minutes, code)
    await say(message, services, answer)


async def travel(message: Message, command: CommandObject, services: BotServices) -> None:
    parsed = minutes_and_queue(command.args)
    if parsed is None:
        await reply(message, services, "travel_usage")
        return
    minutes, code = parsed
    answer = await services.conversation.travel(patient_of(message), minutes, code)
    await say(message, services, answer)


async def lang(message: Message, command: CommandObject, services: BotServices) -> None:
    choice = (command.args or "").strip().lower()
    answer = await services.conversation.choose_language(patient_of(message), choice)
    await say(message, services, answer)


async def anything_else(message: Message, services: BotServices) -> None:
    await say(message, services, services.conversation.not_understood(patient_of(message)))


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
