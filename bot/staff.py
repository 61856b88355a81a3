"""Staff commands from a linked chat: /link, /next, /recall, /noshow, /done, /queue,
/pause, /resume, /broadcast.

These are registered before the patient commands, so a staff command never falls through
to "unknown command". A chat that is not linked to an account is refused and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.context import BotServices, reply
from core.domain.broadcast import BroadcastTooLong
from core.domain.errors import CounterBusy, DomainError, QueueEmpty, UnknownCounter
from core.domain.model import queue_code
from core.redact import redact
from core.services.errors import AccountDisabled, UnknownLinkCode
from core.services.staff_chat import account_for_chat, link_chat
from core.storage.errors import NotFound
from core.storage.models import StaffAccount

log = logging.getLogger(__name__)
COUNTER_NAME_MAX = 32
StaffHandler = Callable[[Message, CommandObject, BotServices, StaffAccount], Awaitable[None]]


def private_from(message: Message) -> int | None:
    """The sender's user id when the message is in a private chat with them; None in a group,
    where every member would otherwise share the staff member's powers and see names."""
    if message.chat.type != "private" or message.from_user is None:
        return None
    return message.from_user.id


async def link(message: Message, command: CommandObject, services: BotServices) -> None:
    code = (command.args or "").strip()
    if not code or len(code) > 32:
        await reply(message, services, "link_usage")
        return
    user_id = private_from(message)
    if user_id is None:
        log.warning("refused /link in non-private chat %s", redact(str(message.chat.id)))
        await reply(message, services, "link_private_only")
        return
    try:
        account = await link_chat(code, message.chat.id, user_id, services.now())
    except (UnknownLinkCode, AccountDisabled):
        log.warning("chat %s sent an unknown or expired link code", redact(str(message.chat.id)))
        await reply(message, services, "link_bad")
        return
    log.info("chat %s linked to staff account %s", redact(str(message.chat.id)), account.name)
    await reply(message, services, "linked", name=account.name)


def staff_only(handler: StaffHandler) -> Callable[..., Awaitable[None]]:
    """Refuses unlinked chats; maps the errors staff can cause to a short reply."""

    async def guarded(message: Message, command: CommandObject, services: BotServices) -> None:
        user_id = private_from(message)
        account = await account_for_chat(message.chat.id, user_id) if user_id else None
        if account is None:
            log.warning(
                "refused staff command %s from chat %s",
                command.command,
                redact(str(message.chat.id)),
            )
            await reply(message, services, "not_linked")
            return
        try:
            await handler(message, command, services, account)
        except DomainError as exc:
            await staff_error(message, services, exc, command)

    guarded.__name__ = handler.__name__
    return guarded


async def staff_error(
    message: Message, services: BotServices, exc: DomainError, command: CommandObject
) -> None:
    params: dict[str, Any] = {}
    if isinstance(exc, BroadcastTooLong):
        name, params = "broadcast_too_long", dict(exc.details())
    elif isinstance(exc, QueueEmpty):
        name, params = "queue_empty", {"queue": exc.queue}
    elif isinstance(exc, CounterBusy):
        name, params = "counter_busy", {"counter": exc.counter, "number": exc.number}
    elif isinstance(exc, UnknownCounter):
        name, params = "unknown_counter", {"queue": exc.queue, "counter": exc.counter}
    elif isinstance(exc, NotFound) and exc.code == "queue_not_found":
        name, params = "unknown_queue", {"code": exc.key}
    elif isinstance(exc, NotFound):
        name = "no_current"
    else:  # an illegal transition (the patient left meanwhile), a bad value
        name, params = "staff_error", {"message": str(exc)}
    await reply(message, services, name, **params)


async def _next(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    args = (command.args or "").split()
    code = queue_code(args[0]) if args else None
    counter = args[1] if len(args) > 1 else None
    if (args and code is None) or len(args) > 2 or (counter and len(counter) > COUNTER_NAME_MAX):
        await reply(message, services, "next_usage")
        return
    called = await services.staff.call_next(account, code, counter)
    ticket = called.ticket
    await reply(
        message,
        services,
        "next_called",
        number=ticket.number,
        name=ticket.name,
        queue=called.queue,
        counter=called.counter,
        priority=ticket.priority,
    )


async def _recall(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    ticket = await services.staff.recall(account)
    await reply(message, services, "recalled", number=ticket.number, counter=ticket.counter)


async def _noshow(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    ticket = await services.staff.no_show(account)
    await reply(message, services, "noshow_done", number=ticket.number)


async def _done(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    ticket = await services.staff.done(account)
    await reply(message, services, "done_done", number=ticket.number)


async def _queue(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    args = (command.args or "").split()
    code = queue_code(args[0]) if args else None
    if args and code is None:
        await reply(message, services, "next_usage")
        return
    status = await services.staff.status(account, code)
    queue = status.queue
    await reply(
        message,
        services,
        "queue_status",
        queue=queue.code,
        size=queue.size(),
        capacity=queue.config.capacity,
        waiting=[t.number for t in queue.waiting()[:10]],
        serving=[f"{t.number} @ {t.counter}" for t in queue.at_counters()],
        paused=queue.pause is not None,
        pause_message=queue.pause.message if queue.pause else None,
    )


async def _pause(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    """`/pause [CODE] [message]`: the first word is the queue when it names one."""
    code, text = await _queue_and_rest(command, services)
    queue, said = await services.staff.pause(account, code, text)
    await reply(message, services, "paused_done", queue=queue, message=said)


async def _resume(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    code, _ = await _queue_and_rest(command, services)
    queue = await services.staff.resume(account, code)
    await reply(message, services, "resumed_done", queue=queue)


async def _queue_and_rest(
    command: CommandObject, services: BotServices
) -> tuple[str | None, str | None]:
    words = (command.args or "").strip().split(maxsplit=1)
    if not words:
        return None, None
    code = queue_code(words[0])
    if code is not None and await services.staff.is_queue(code):
        return code, words[1] if len(words) > 1 else None
    return None, " ".join(words)


async def _broadcast(
    message: Message, command: CommandObject, services: BotServices, account: StaffAccount
) -> None:
    code_and_text = (command.args or "").strip().split(maxsplit=1)
    code = queue_code(code_and_text[0]) if code_and_text else None
    if code is None or len(code_and_text) < 2:
        await reply(message, services, "broadcast_usage")
        return
    sent = await services.staff.broadcast(account, code, code_and_text[1])
    await reply(
        message,
        services,
        "broadcast_sent",
        queue=code,
        sent=sent.sent,
        telegram=sent.by_channel.get("telegram", 0),
        sms=sent.by_channel.get("sms", 0),
        unreachable=sent.unreachable,
    )


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one Dispatcher only."""
    router = Router(name="staff")
    router.message.register(link, Command("link"))
    router.message.register(staff_only(_next), Command("next"))
    router.message.register(staff_only(_recall), Command("recall"))
    router.message.register(staff_only(_noshow), Command("noshow"))
    router.message.register(staff_only(_done), Command("done"))
    router.message.register(staff_only(_queue), Command("queue"))
    router.message.register(staff_only(_pause), Command("pause"))
    router.message.register(staff_only(_resume), Command("resume"))
    router.message.register(staff_only(_broadcast), Command("broadcast"))
    return router
