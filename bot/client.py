"""The aiogram Bot, pointed at Telegram or at a self-hosted Bot API server."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

REQUEST_TIMEOUT_S = 10
"""A send that takes longer is retried; well under the outbox lease."""


def make_bot(token: str, api_base: str) -> Bot:
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(api_base.rstrip("/")), timeout=REQUEST_TIMEOUT_S
    )
    return Bot(token, session=session)
