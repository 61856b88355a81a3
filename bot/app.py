"""The aiogram Dispatcher with NextUp's routers, and the two ways updates reach it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher
from aiogram.types import BotCommand, ErrorEvent

from bot import callbacks, kinds, patients, phone, staff
from bot.context import BotServices

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


def build_dispatcher(services: BotServices) -> Dispatcher:
    dp = Dispatcher()
    dp["services"] = services
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
        raise


async def register_webhook(bot: Bot, url: str, secret: str | None) -> None:
    await bot.set_my_commands(COMMANDS)
    await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
