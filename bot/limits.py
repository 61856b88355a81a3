"""Every Bot API call the bot makes passes here: what it sends to a chat is booked under the
bot's and the chat's limits (the ones the dispatcher's notifications use, shared by every
process when they are kept in Redis), and a reply Telegram refused for a while is retried.

The dispatcher books its own sends before they reach the session (it chooses which
recipient goes next) and retries them through the outbox, so for those calls this only
passes Telegram's "wait" on to the limits.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import TelegramType

from core.delivery.limits import ALREADY_LIMITED, ChannelLimits, Limiter, Rule

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response

log = logging.getLogger(__name__)
REPLY_ATTEMPTS = 5
"""A reply is tried this many times in all: 429s, 5xx and network errors are short-lived,
and a patient who typed a command waits for the answer."""
BACKOFF_BASE_S = 0.5
MAX_RETRY_AFTER_S = 30.0
"""A reply Telegram wants delayed longer than this is dropped rather than kept waiting."""


def chat_of(method: TelegramMethod[Any]) -> str | None:
    """The chat a call writes to (sendMessage, editMessageText, ...), if any."""
    chat_id = getattr(method, "chat_id", None)
    return None if chat_id is None else str(chat_id)


class LimitedRequests(BaseRequestMiddleware):
    def __init__(
        self, limiter: Limiter, limits: ChannelLimits, attempts: int = REPLY_ATTEMPTS
    ) -> None:
        self.limiter = limiter
        self.limits = limits
        self.attempts = attempts

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == "getUpdates":
            return await make_request(bot, method)  # a long poll, and aiogram retries it
        booked = ALREADY_LIMITED.get()
        chat = chat_of(method)
        retried = not booked and (chat is not None or isinstance(method, AnswerCallbackQuery))
        attempt = 1
        while True:
            booking = await self._wait_turn(chat) if chat is not None and not booked else None
            name = type(method).__name__
            try:
                try:
                    return await make_request(bot, method)
                finally:
                    if booking is not None:
                        await self.limiter.answered(*booking)
            except TelegramRetryAfter as exc:
                # Telegram does not say which limit it meant: every chat of the bot waits.
                await self.limiter.pause(self.limits.identity, exc.retry_after)
                if not retried or attempt >= self.attempts or exc.retry_after > MAX_RETRY_AFTER_S:
                    raise
                log.info("Telegram asked to wait %s s; %s goes again", exc.retry_after, name)
                if chat is None:  # not booked under the limits, so not held by the pause
                    await asyncio.sleep(exc.retry_after)
            except (TelegramServerError, TelegramNetworkError) as exc:
                if not retried or attempt >= self.attempts:
                    raise
                delay_s = BACKOFF_BASE_S * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
                log.info("Telegram unavailable (%s); %s again in %.1f s", exc, name, delay_s)
                await asyncio.sleep(delay_s)
            attempt += 1

    async def _wait_turn(self, chat: str) -> tuple[tuple[Rule, ...], str]:
        """Until the send is booked under the bot's and the chat's limits."""
        [(_, rules)] = self.limits.choices(chat)
        while True:
            verdict = await self.limiter.acquire(rules)
            if verdict.ticket is not None:
                return rules, verdict.ticket
            if verdict.elsewhere:
                # Redis is down and another process writes to this chat for now; but the
                # answer to a command is this process's to give, within the bot's share.
                rules = tuple(r for r in rules if r != verdict.blocked_by)
                continue
            await asyncio.sleep(verdict.wait_s)
