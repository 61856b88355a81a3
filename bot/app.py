"""The aiogram Dispatcher with NextUp's routers, and the two ways updates reach it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.types import BotCommand, ErrorEvent, TelegramObject

from bot import callbacks, kinds, patients, phone, staff
from bot.context import BotServices
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]
COMMANDS = [
    BotCommand(command="join", description="Join a queue: /join CODE"),
    BotCommand(command="status", description="Your place in line"),
    BotCommand(command="late", description="Running late: /late 10"),
    BotCommand(command="travel", description="Minutes you need to come back"),
    BotCommand(command="kind", description="What your visit is for"),
    BotCommand(command="leave", description="Leave the queue"),
    BotCommand(command="phone", description="Remove the phone number you gave"),
    BotCommand(command="lang", description="Language"),
    BotCommand(command="help", description="What I can do"),
]
IN_FLIGHT = "updates_in_flight"
UPDATE_GRACE_S = 2.0
"""How long a stop lets the updates being handled finish (a reply on its way) before it
cancels them."""


class UpdatesInFlight(BaseMiddleware):
    """The tasks handling updates now. Polling hands each update to a task of its own and
    leaves those running when it stops; unwatched, a reply would go on being sent, retried
    and booked under the chat's limits after the bot's session and database are closed."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        task = asyncio.current_task()
        if task is None:
            return await handler(event, data)
        self.tasks.add(task)
        try:
            return await handler(event, data)
        finally:
            self.tasks.discard(task)


def build_dispatcher(services: BotServices) -> Dispatcher:
    dp = Dispatcher()
    dp["services"] = services
    in_flight = UpdatesInFlight()
    dp.update.outer_middleware(in_flight)
    dp[IN_FLIGHT] = in_flight
    dp.include_routers(
        staff.build_router(),
        kinds.build_router(),
        callbacks.build_router(),
        phone.build_router(),
        patients.build_router(),
    )

    @dp.errors()
    async def unexpected(event: ErrorEvent) -> bool:
        log.exception("bot update failed", exc_info=event.exception)
        message = event.update.message
        if message is not None:
            await message.answer("Sorry, something went wrong on our side. Please try again.")
        return True

    return dp


async def run_polling(bot: Bot, dp: Dispatcher) -> None:
    """Long polling until cancelled; a webhook left over from webhook mode is removed."""
    await bot.delete_webhook(drop_pending_updates=False)
    await bot.set_my_commands(COMMANDS)
    polling = asyncio.create_task(
        dp.start_polling(
            bot, handle_signals=False, close_bot_session=False, allowed_updates=ALLOWED_UPDATES
        )
    )
    try:
        await asyncio.shield(polling)
    except asyncio.CancelledError:
        # Cancelling start_polling would leave its inner getUpdates loop running; the stop
        # signal ends both.
        with contextlib.suppress(RuntimeError):  # it had not started yet
            await dp.stop_polling()
        await polling
        in_flight: UpdatesInFlight = dp[IN_FLIGHT]
        if in_flight.tasks:
            _, late = await asyncio.wait(set(in_flight.tasks), timeout=UPDATE_GRACE_S)
            await cancel_and_wait(late)
        raise


async def register_webhook(bot: Bot, url: str, secret: str | None) -> None:
    await bot.set_my_commands(COMMANDS)
    await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
