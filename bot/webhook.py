"""`POST /hooks/telegram`: updates pushed by Telegram in webhook mode.

The web app mounts this blueprint (from the composition root); Telegram proves it is
Telegram with the secret it was given in setWebhook.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiogram import Bot, Dispatcher
from pydantic import ValidationError
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_blueprint(bot: Bot, dp: Dispatcher, secret: str) -> Blueprint:
    """`secret` is required: without it anyone could post updates as any chat (settings
    refuse webhook mode without NEXTUP_TELEGRAM_WEBHOOK_SECRET)."""
    if not secret:
        raise ValueError("the Telegram webhook needs a secret")
    expected = secret.encode()
    bp = Blueprint("telegram_webhook")

    @bp.post("/hooks/telegram")
    async def telegram_update(request: Request) -> HTTPResponse:
        # Bytes, in constant time: a header with non-ASCII characters is just a wrong one.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(given, expected):
            log.warning("Telegram webhook call with a wrong secret from %s", request.ip)
            return error(403, "forbidden", "wrong or missing secret token")
        try:
            update: Any = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return error(400, "malformed_json", "the body is not JSON")
        if not isinstance(update, dict):
            return error(400, "invalid_update", "an update is a JSON object")
        try:
            await dp.feed_webhook_update(bot, update)
        except ValidationError:
            return error(400, "invalid_update", "not a Telegram update")
        return json_response({"ok": True})

    return bp


def error(status: int, code: str, message: str) -> HTTPResponse:
    return json_response({"error": {"code": code, "message": message}}, status=status)
