"""The aiogram Bot, pointed at Telegram or at a self-hosted Bot API server."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.limits import LimitedRequests
from core.delivery.limits import ChannelLimits, Limiter

REQUEST_TIMEOUT_S = 10
"""A send that takes longer is retried; well under the outbox lease."""


def make_bot(
    token: str,
    api_base: str,
    limiter: Limiter | None = None,
    limits: ChannelLimits | None = None,
) -> Bot:
    """With a limiter, every call the bot makes to a chat waits its turn under `limits`
    (and replies are retried): see bot.limits."""
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(api_base.rstrip("/")), timeout=REQUEST_TIMEOUT_S
    )
    if limiter is not None and limits is not None:
        session.middleware(LimitedRequests(limiter, limits))
    return Bot(token, session=session)
