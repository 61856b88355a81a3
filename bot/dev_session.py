"""A Bot API answered locally, into the dev inbox: with no Telegram token, the console's
patient simulator still drives the real bot handlers and sees what they send.

A message the bot sends becomes a `DevInboxMessage` whose id is its `message_id`, so the
notifications the dispatcher drops into the dev inbox and the bot's own replies are one
list, and a button under either can be pressed as the patient.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    GetUpdates,
    SendChatAction,
    SendMessage,
    SetChatMenuButton,
    SetMyCommands,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup, Update

from core.storage import dev_inbox
from core.storage.dev_inbox import Buttons
from core.storage.models import DevInboxMessage

DEV_BOT_TOKEN = "1000001:dev-inbox"
"""Shaped like a real token (aiogram checks the shape); no Telegram server ever sees it."""
DEV_BOT_USERNAME = "nextup_dev_bot"
ACCEPTED = (
    SetMyCommands,
    DeleteMyCommands,
    SetChatMenuButton,
    SetWebhook,
    DeleteWebhook,
    SendChatAction,
)
"""Methods with nothing to show: they succeed, as on Telegram."""


class DevInboxError(Exception):
    """What Telegram would refuse; becomes the Bot API's own error (`TelegramBadRequest`)."""


def buttons_of(markup: object) -> Buttons:
    """An inline keyboard as the dev inbox stores it; other keyboards are not shown."""
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    rows: Buttons = []
    for row in markup.inline_keyboard:
        rows.append(
            [
                {"label": b.text, "data": b.callback_data}
                if b.callback_data is not None
                else {"label": b.text, "url": b.url or ""}
                for b in row
            ]
        )
    return rows


def keyboard_json(buttons: Buttons) -> dict[str, Any] | None:
    if not buttons:
        return None
    return {
        "inline_keyboard": [
            [
                {"text": b["label"], "callback_data": b["data"]}
                if "data" in b
                else {"text": b["label"], "url": b.get("url", "")}
                for b in row
            ]
            for row in buttons
        ]
    }


def chat_id_of(raw: int | str | None) -> int:
    try:
        return int(raw) if raw is not None else 0
    except ValueError:  # "@channel": the dev inbox only knows private chats
        raise DevInboxError("Bad Request: chat not found") from None


class DevInboxSession(BaseSession):
    """Answers the Bot API methods the bot uses; any other is refused as Telegram would
    refuse a method it does not know, so a new call shows up instead of passing silently."""

    def __init__(self) -> None:
        super().__init__()
        self.callback_answers: dict[str, str | None] = {}
        """What `answerCallbackQuery` said, by query id: the simulator shows it."""

    async def close(self) -> None:
        return None

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        # Through the same check as a real answer: results are parsed into aiogram's types
        # (bound to the bot), and a refusal raises the Bot API's own exception.
        try:
            status, body = 200, {"ok": True, "result": await self._result(bot, method)}
        except DevInboxError as exc:
            status, body = 400, {"ok": False, "error_code": 400, "description": str(exc)}
        response = self.check_response(bot, method, status, self.json_dumps(body))
        return cast(TelegramType, response.result)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (aiogram's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise DevInboxError("the dev inbox holds no files")
        yield b""  # type: ignore[unreachable]  # a generator, as the base class declares

    async def _result(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        match method:
            case GetMe():
                return me_json(bot)
            case SendMessage():
                row = await dev_inbox.add(
                    "telegram",
                    str(chat_id_of(method.chat_id)),
                    method.text,
                    buttons_of(method.reply_markup),
                )
                return message_json(bot, row)
            case EditMessageText() | EditMessageReplyMarkup():
                return await self._edit(bot, method)
            case AnswerCallbackQuery():
                self.callback_answers[method.callback_query_id] = method.text
                return True
            case DeleteMessage():
                chat = str(chat_id_of(method.chat_id))
                await dev_inbox.delete(method.message_id, chat)
                return True
            case GetUpdates():
                # Nobody polls the dev bot, but a poller must not spin on it.
                await asyncio.sleep(min(method.timeout or 0, 30))
                return []
            case _ if isinstance(method, ACCEPTED):
                return True
        raise DevInboxError(f"Bad Request: the dev inbox does not emulate {type(method).__name__}")

    async def _edit(self, bot: Bot, method: EditMessageText | EditMessageReplyMarkup) -> Any:
        if method.inline_message_id is not None:
            return True  # inline-mode messages are not kept
        row = await dev_inbox.telegram_message(
            method.message_id or 0, str(chat_id_of(method.chat_id))
        )
        if row is None:
            raise DevInboxError("Bad Request: message to edit not found")
        text = row.text
        if isinstance(method, EditMessageText) and method.text is not None:
            text = method.text
        # As on Telegram, an edit without a keyboard removes the one the message had.
        await dev_inbox.edit(row, text, buttons_of(method.reply_markup))
        return message_json(bot, row)


def me_json(bot: Bot) -> dict[str, Any]:
    return {
        "id": bot.id,
        "is_bot": True,
        "first_name": "NextUp (dev inbox)",
        "username": DEV_BOT_USERNAME,
        "can_join_groups": False,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def message_json(bot: Bot, row: DevInboxMessage) -> dict[str, Any]:
    """The Bot API's Message for a dev-inbox row, as sent by the bot."""
    chat_id = int(row.recipient)
    message: dict[str, Any] = {
        "message_id": row.id,
        "date": int(row.created_at.timestamp()) if row.created_at else int(time.time()),
        "chat": {"id": chat_id, "type": "private"},
        "from": me_json(bot),
        "text": row.text,
    }
    markup = keyboard_json(row.buttons)
    if markup is not None:
        message["reply_markup"] = markup
    return message


def dev_bot() -> Bot:
    """A bot whose Bot API is the dev inbox."""
    return Bot(DEV_BOT_TOKEN, session=DevInboxSession())


class TelegramSimulator:
    """Plays a patient in a private chat with the bot: feeds the dispatcher the updates
    Telegram would send for their text or for a press of one of the bot's buttons."""

    def __init__(self, bot: Bot, dispatcher: Dispatcher) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        # Unique for this process's lifetime, like Telegram's increasing update ids.
        self._update_ids = itertools.count(int(time.time()))
        self._message_ids = itertools.count(1)

    async def say(self, chat_id: int, text: str) -> None:
        """The patient sends `text`; returns once the bot has handled it."""
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Patient"},
            "from": patient_json(chat_id),
            "text": text,
        }
        await self._feed({"message": message})

    async def press(self, chat_id: int, message_id: int, data: str) -> str | None:
        """The patient presses the button carrying `data` under the bot's message
        `message_id`; returns the bot's answer (the small notice Telegram shows), if known.

        Raises LookupError when that chat has no such message or button: a patient can only
        press what they were sent."""
        row = await dev_inbox.telegram_message(message_id, str(chat_id))
        if row is None or not any(b.get("data") == data for line in row.buttons for b in line):
            raise LookupError("that message has no such button (any more)")
        query_id = uuid.uuid4().hex
        query = {
            "id": query_id,
            "from": patient_json(chat_id),
            "chat_instance": str(chat_id),
            "data": data,
            "message": message_json(self.bot, row),
        }
        await self._feed({"callback_query": query})
        session = self.bot.session
        if isinstance(session, DevInboxSession):
            return session.callback_answers.pop(query_id, None)
        return None

    async def _feed(self, event: dict[str, Any]) -> None:
        raw = {"update_id": next(self._update_ids), **event}
        update = Update.model_validate(raw, context={"bot": self.bot})
        await self.dispatcher.feed_update(self.bot, update)


def patient_json(chat_id: int) -> dict[str, Any]:
    """In a private chat the user's id is the chat's id."""
    return {"id": chat_id, "is_bot": False, "first_name": "Patient"}
