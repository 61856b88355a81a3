"""Sends notifications through the Telegram Bot API, mapping its errors onto the
dispatcher's: flood control waits, server and network trouble retries, the rest fails."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.delivery import Outgoing, PermanentFailure, Receipt, RetryAfter, TemporaryFailure
from core.messages import Button


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.label, callback_data=b.data) for b in row] for row in rows
        ]
    )


class TelegramSender:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: Outgoing) -> Receipt:
        try:
            sent = await self.bot.send_message(
                chat_id=int(message.recipient),
                text=message.text,
                reply_markup=keyboard(message.buttons),
            )
        except TelegramRetryAfter as exc:
            raise RetryAfter(f"Telegram flood control: {exc.message}", exc.retry_after) from exc
        except (TelegramServerError, TelegramNetworkError) as exc:
            raise TemporaryFailure(f"Telegram unavailable: {exc.message}") from exc
        except TelegramAPIError as exc:  # blocked by the user, chat not found, bad request
            raise PermanentFailure(f"Telegram refused: {exc.message}") from exc
        return Receipt(provider_message_id=str(sent.message_id), delivered_to="telegram")

    async def close(self) -> None:
        """The bot's session is shared with the bot's updates; its owner closes it."""
