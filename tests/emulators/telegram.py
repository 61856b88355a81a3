"""A Telegram Bot API emulator for tests: a real HTTP server the real aiogram `Bot` talks to.

    async with TelegramEmulator() as tg:
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        bot = Bot(tg.token, session=session)
        ...
        await tg.user_message(42, "/start")
        [msg] = await tg.wait_for_message(42, contains="Welcome")

Answers look like Telegram's (status codes and descriptions included) so aiogram raises the
same exceptions it would in production. Every chat is a private chat with the user of the
same id. Users send text, press inline buttons, and share contacts: their own with a reply
keyboard's contact button (`share_own_contact`), or anyone's (`user_contact`). Only what
NextUp uses is emulated; see the method table in `__init__`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

from tests.emulators.server import EmulatorServer

FaultKind = Literal["retry_after", "server_error", "timeout"]
# Parameters Telegram takes as JSON-serialized objects (aiogram sends them as JSON strings).
_JSON_FIELDS = frozenset(
    {"reply_markup", "allowed_updates", "commands", "scope", "entities", "link_preview_options"}
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


@dataclass
class SentMessage:
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int
    at: float  # time.monotonic() when the request arrived
    method: str = "sendMessage"
    parse_mode: str | None = None


@dataclass
class EditRecord:
    method: str
    chat_id: int
    message_id: int
    text: str | None
    reply_markup: dict[str, Any] | None
    at: float


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    at: float


@dataclass
class RequestRecord:
    method: str
    params: dict[str, Any]
    at: float
    outcome: str = "pending"  # ok | unauthorized | not_found | bad_request | forbidden |
    # conflict | retry_after | rate_limited | server_error | timeout
    source: str = "http"  # or "webhook_reply": a method returned in a webhook response


@dataclass
class _Fault:
    kind: FaultKind
    retry_after: int
    status: int
    delay_s: float
    deliver: bool


class _ApiError(Exception):
    def __init__(
        self, status: int, description: str, outcome: str, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.description, self.outcome = status, description, outcome
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            return {**body, "parameters": {"retry_after": self.retry_after}}
        return body


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}", "bad_request")


def _retry(retry_after: int, outcome: str) -> _ApiError:
    return _ApiError(429, f"Too Many Requests: retry after {retry_after}", outcome, retry_after)


def _int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid integer value {value!r}") from None


def _flag(value: Any) -> bool:
    return value in (True, 1, "true", "True", "1")


def _decode(key: str, value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    if isinstance(value, str) and key in _JSON_FIELDS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def _check_reply_keyboard(rows: Any) -> None:
    """Rows of buttons, each with its text, as Telegram requires of a reply keyboard."""
    if not isinstance(rows, list) or not all(
        isinstance(row, list) and all(isinstance(b, dict) and b.get("text") for b in row)
        for row in rows
    ):
        raise _bad("can't parse reply keyboard markup JSON object")


class _Poll:
    """One waiting getUpdates; `reason` is set when another request terminates it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason: str | None = None


class TelegramEmulator(EmulatorServer):
    def __init__(
        self,
        token: str = "123456:TEST-token",
        bot_username: str = "nextup_test_bot",
        bot_id: int = 123456,
    ) -> None:
        super().__init__()
        self.token, self.bot_username, self.bot_id = token, bot_username, bot_id
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "NextUp Test",
            "username": bot_username,
        }
        self.sent: list[SentMessage] = []
        self.edits: list[EditRecord] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.requests: list[RequestRecord] = []
        self.webhook_responses: list[int] = []  # HTTP status per webhook POST (0: unreachable)
        self.too_many_requests = 0
        self.response_delay_s = 0.0
        self._sends_open = asyncio.Event()
        self._sends_open.set()
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.allowed_updates: list[str] | None = None  # stored, not used to filter
        self.commands: list[dict[str, Any]] = []
        self._handlers: dict[str, Callable[[dict[str, Any], float], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "answercallbackquery": self._answer_callback_query,
            "editmessagetext": lambda p, at: self._edit(p, at, "editMessageText"),
            "editmessagereplymarkup": lambda p, at: self._edit(p, at, "editMessageReplyMarkup"),
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
        }
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(7_000_000_001)
        self._open_callbacks: set[str] = set()
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._names: dict[int, str] = {}
        self._blocked: set[int] = set()
        self.phones: dict[int, str] = {}
        """Each user's own number, as their app shares it (`set_phone`)."""
        self.keyboards: dict[int, dict[str, Any]] = {}
        """The reply keyboard each chat shows now (its `ReplyKeyboardMarkup`)."""
        self._faults: dict[str, deque[_Fault]] = {}
        self._limits: tuple[int, float] | None = None
        self._bot_window: deque[float] = deque()
        self._last_to_chat: dict[int, float] = {}
        self._in_flight: Counter[tuple[int, str]] = Counter()
        self._poll: _Poll | None = None

    # lifecycle
    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._http)
        app.router.add_route("*", "/{tail:.*}", self._http_not_found)

    async def stop(self) -> None:
        if self._poll is not None:  # a long poll in progress ends now
            self._poll.event.set()
        await super().stop()

    # test controls
    def block_chat(self, chat_id: int) -> None:
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def fail_next(
        self,
        method: str,
        kind: FaultKind,
        times: int = 1,
        retry_after: int = 2,
        status: int = 502,
        delay_s: float = 5.0,
        deliver: bool = False,
    ) -> None:
        """Fault the next `times` calls of `method`. "timeout" sleeps `delay_s`, then answers
        normally; a timed-out sendMessage reaches `sent` only with `deliver=True` (Telegram
        delivered it but the answer was lost)."""
        if kind not in ("retry_after", "server_error", "timeout"):
            raise ValueError(f"unknown fault kind {kind!r}")
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(_Fault(kind, retry_after, status, delay_s, deliver) for _ in range(times))

    def hold_sends(self) -> None:
        """sendMessage requests are recorded on arrival but answered only on release_sends():
        a client's sends stay in flight for as long as a test needs."""
        self._sends_open.clear()

    def release_sends(self) -> None:
        self._sends_open.set()

    def enforce_limits(self, per_bot_per_s: int = 30, per_chat_interval_s: float = 1.0) -> None:
        self._limits = (per_bot_per_s, per_chat_interval_s)
        self._bot_window.clear()
        self._last_to_chat.clear()

    @property
    def in_flight(self) -> set[tuple[int, str]]:
        """(chat_id, text) of sendMessage requests received but not yet answered."""
        return {key for key, n in self._in_flight.items() if n > 0}

    def snapshot_in_flight(self) -> set[tuple[int, str]]:
        return set(self.in_flight)

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_for_message(
        self, chat_id: int, contains: str | None = None, timeout_s: float = 5.0, count: int = 1
    ) -> list[SentMessage]:
        """All messages to `chat_id` (containing `contains`) once there are at least `count`."""

        def matching() -> list[SentMessage]:
            return [m for m in self.messages_to(chat_id) if contains is None or contains in m.text]

        if not await self._wait_until(lambda: len(matching()) >= count, timeout_s):
            what = f"{count} message(s) to chat {chat_id}" + (
                f" containing {contains!r}" if contains is not None else ""
            )
            raise AssertionError(f"no {what} within {timeout_s}s\n{self.dump()}")
        return matching()

    async def wait_for_sent_count(self, n: int, timeout_s: float = 5.0) -> list[SentMessage]:
        if not await self._wait_until(lambda: len(self.sent) >= n, timeout_s):
            raise AssertionError(f"fewer than {n} messages sent within {timeout_s}s\n{self.dump()}")
        return list(self.sent)

    def dump(self, last_requests: int = 25) -> str:
        lines = [f"sent ({len(self.sent)}):"]
        lines += [
            f"  chat={m.chat_id} id={m.message_id} {m.text!r}"
            + (f" markup={json.dumps(m.reply_markup)}" if m.reply_markup else "")
            for m in self.sent
        ]
        lines.append(f"last {last_requests} of {len(self.requests)} requests:")
        lines += [f"  {r.method} -> {r.outcome} {r.params}" for r in self.requests[-last_requests:]]
        return "\n".join(lines)

    # simulated users
    async def user_message(
        self,
        chat_id: int,
        text: str,
        first_name: str = "Pat",
        language_code: str = "en",
        from_user: int | None = None,
    ) -> dict[str, Any]:
        """`from_user` sends it as another member of a group chat (a negative `chat_id`)."""
        self._names[chat_id] = first_name
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": self._user(from_user if from_user is not None else chat_id, language_code),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            length = len(command.encode("utf-16-le")) // 2
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._messages[(chat_id, message["message_id"])] = message
        update = {"update_id": next(self._update_ids), "message": copy.deepcopy(message)}
        await self._deliver(update)
        return update

    def set_phone(self, user_id: int, phone_number: str) -> None:
        """The user's own number, which their app sends when they share their contact."""
        self.phones[user_id] = phone_number

    def contact_button(self, chat_id: int) -> dict[str, Any] | None:
        """The button of the chat's reply keyboard that shares the user's number, if shown."""
        rows = self.keyboards.get(chat_id, {}).get("keyboard", [])
        return next((b for row in rows for b in row if b.get("request_contact")), None)

    async def share_own_contact(self, chat_id: int) -> dict[str, Any]:
        """The user taps the keyboard's contact button: after a confirmation, their app sends
        their own number (as a contact with their user id). Only a shown button can be
        tapped; a one-time keyboard hides once used."""
        button = self.contact_button(chat_id)
        if button is None:
            raise AssertionError(f"chat {chat_id} shows no contact button\n{self.dump()}")
        if chat_id not in self.phones:
            raise ValueError(f"set_phone({chat_id}, ...) first")
        if self.keyboards[chat_id].get("one_time_keyboard"):
            self.keyboards.pop(chat_id)
        return await self.user_contact(chat_id, self.phones[chat_id], user_id=chat_id)

    async def user_contact(
        self,
        chat_id: int,
        phone_number: str,
        user_id: int | None = None,
        first_name: str = "Sam",
        from_user: int | None = None,
    ) -> dict[str, Any]:
        """A contact sent in the chat: anyone's card from the address book (`user_id` is
        theirs when they use Telegram, else absent), or with the button, the user's own."""
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if user_id is not None:
            contact["user_id"] = user_id
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": self._user(from_user if from_user is not None else chat_id),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "contact": contact,
        }
        self._messages[(chat_id, message["message_id"])] = message
        update = {"update_id": next(self._update_ids), "message": copy.deepcopy(message)}
        await self._deliver(update)
        return update

    async def press_button(self, chat_id: int, message_id: int, data: str) -> str:
        message = self._messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        query_id = str(next(self._callback_ids))
        self._open_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(chat_id),
            "message": copy.deepcopy(message),  # as it is now, later edits aside
            "chat_instance": str(chat_id * 31 + self.bot_id),
            "data": data,
        }
        await self._deliver({"update_id": next(self._update_ids), "callback_query": query})
        return query_id

    # internals
    def _user(self, user_id: int, language_code: str = "en") -> dict[str, Any]:
        name = self._names.get(user_id, "Pat")
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": language_code}

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id < 0:  # as on Telegram: groups have negative ids, private chats the user's
            return {"id": chat_id, "title": self._names.get(chat_id, "Group"), "type": "group"}
        return {"id": chat_id, "first_name": self._names.get(chat_id, "Pat"), "type": "private"}

    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    async def _deliver(self, update: dict[str, Any]) -> None:
        if not self.webhook_url:
            self._updates.append(update)
            if self._poll is not None:
                self._poll.event.set()
            return
        assert self._client is not None, "start() the emulator first"
        headers = (
            {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
        )
        reply: dict[str, Any] | None = None
        try:
            async with self._client.post(self.webhook_url, json=update, headers=headers) as resp:
                status = resp.status
                if status == 200:
                    reply = await self._webhook_reply(resp)
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        self.webhook_responses.append(status)
        self._notify()
        if reply and "method" in reply:
            method = str(reply.pop("method"))
            await self._call(self.token, method, reply, time.monotonic(), "webhook_reply")

    @staticmethod
    async def _webhook_reply(resp: aiohttp.ClientResponse) -> dict[str, Any] | None:
        """A method call in a webhook answer, which Telegram executes (aiogram sends it as
        multipart form data when a handler returns a method and handle_in_background=False)."""
        if resp.content_type == "application/json":
            body = await resp.json()
            return body if isinstance(body, dict) else None
        if resp.content_type.startswith("multipart/"):
            params: dict[str, Any] = {}
            async for part in aiohttp.MultipartReader.from_response(resp):
                if isinstance(part, aiohttp.BodyPartReader) and part.name:
                    params[part.name] = _decode(part.name, await part.text())
            return params
        return None

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        value = f"<file {value.filename}>"
                    params[key] = value
        return {key: _decode(key, value) for key, value in params.items()}

    async def _http(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            params = await self._read_params(request)
        except ValueError:
            self.requests.append(RequestRecord(method, {}, at, "bad_request"))
            return web.json_response(_bad("can't parse request body").body(), status=400)
        status, body = await self._call(token, method, params, at)
        return web.json_response(body, status=status)

    async def _http_not_found(self, request: web.Request) -> web.Response:
        body = {"ok": False, "error_code": 404, "description": "Not Found"}
        return web.json_response(body, status=404)

    async def _call(
        self, token: str, method: str, params: dict[str, Any], at: float, source: str = "http"
    ) -> tuple[int, dict[str, Any]]:
        record = RequestRecord(method, params, at, source=source)
        self.requests.append(record)
        key = method.lower()
        in_flight = None
        if key == "sendmessage":
            with contextlib.suppress(_ApiError):
                in_flight = (self._chat_id(params), str(params.get("text", "")))
                self._in_flight[in_flight] += 1
        try:
            if token != self.token:
                raise _ApiError(401, "Unauthorized", "unauthorized")
            handler = self._handlers.get(key)
            if handler is None:
                raise _ApiError(404, "Not Found: method not found", "not_found")
            faults = self._faults.get(key)
            fault = faults.popleft() if faults else None
            if fault is not None and fault.kind == "retry_after":
                raise _retry(fault.retry_after, "retry_after")
            if fault is not None and fault.kind == "server_error":
                raise _ApiError(fault.status, "Internal Server Error", "server_error")
            if fault is not None:  # timeout: answer late, after the client has given up
                await self._sleep(fault.delay_s)
                record.outcome = "timeout"
                if key == "sendmessage" and not fault.deliver:
                    result = self._message_for(params, record_it=False)
                    return 200, {"ok": True, "result": result}
            result = await handler(params, at)
            if record.outcome == "pending":
                record.outcome = "ok"
            return 200, {"ok": True, "result": result}
        except _ApiError as error:
            record.outcome = error.outcome
            return error.status, error.body()
        finally:
            if in_flight is not None:
                self._in_flight[in_flight] -= 1
            self._notify()

    # methods
    async def _get_me(self, p: dict[str, Any], at: float) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, p: dict[str, Any], at: float) -> Any:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
                "conflict",
            )
        offset = _int(p.get("offset"))
        limit = min(max(_int(p.get("limit"), 100), 1), 100)
        timeout = max(_int(p.get("timeout")), 0)
        if isinstance(p.get("allowed_updates"), list):
            self.allowed_updates = p["allowed_updates"]
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if self._poll is not None:
            self._poll.reason = (
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running"
            )
            self._poll.event.set()
        poll = self._poll = _Poll()
        deadline = time.monotonic() + timeout
        try:
            while not self._updates and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.event.wait(), remaining)
                poll.event.clear()
                if poll.reason is not None:
                    raise _ApiError(409, poll.reason, "conflict")
        finally:
            if self._poll is poll:
                self._poll = None
        return self._updates[:limit]

    def _message_for(self, p: dict[str, Any], record_it: bool) -> dict[str, Any]:
        chat_id = self._chat_id(p)
        text = p.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        if len(text) > 4096:
            raise _bad("message is too long")
        markup = p.get("reply_markup") if isinstance(p.get("reply_markup"), dict) else None
        if markup is not None and "keyboard" in markup:
            _check_reply_keyboard(markup["keyboard"])
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if markup and "inline_keyboard" in markup:  # Telegram echoes inline keyboards only
            message["reply_markup"] = markup
        if record_it:
            self._messages[(chat_id, message["message_id"])] = message
        return message

    async def _send_message(self, p: dict[str, Any], at: float) -> Any:
        chat_id = self._chat_id(p)
        if chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user", "forbidden")
        if self._limits is not None:
            per_bot, interval = self._limits
            while self._bot_window and at - self._bot_window[0] >= 1.0:
                self._bot_window.popleft()
            last = self._last_to_chat.get(chat_id)
            if len(self._bot_window) >= per_bot or (last is not None and at - last < interval):
                self.too_many_requests += 1
                raise _retry(1, "rate_limited")
            self._bot_window.append(at)
            self._last_to_chat[chat_id] = at
        message = self._message_for(p, record_it=True)
        await self._sleep(self.response_delay_s)
        if not self._sends_open.is_set():
            await self._until_released()
        markup = p.get("reply_markup") if isinstance(p.get("reply_markup"), dict) else None
        if markup is not None and "keyboard" in markup:  # shown until replaced or removed
            self.keyboards[chat_id] = markup
        elif markup is not None and markup.get("remove_keyboard"):
            self.keyboards.pop(chat_id, None)
        parse_mode = p.get("parse_mode") or None
        self.sent.append(
            SentMessage(
                chat_id, message["text"], markup, message["message_id"], at, parse_mode=parse_mode
            )
        )
        return message

    async def _until_released(self) -> None:
        """Held sends wait for release_sends(), or for stop() so no server waits on them."""
        released = asyncio.ensure_future(self._sends_open.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([released, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            stopping.cancel()

    async def _answer_callback_query(self, p: dict[str, Any], at: float) -> Any:
        query_id = str(p.get("callback_query_id", ""))
        if query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_callbacks.discard(query_id)
        text = p.get("text") or None
        self.callback_answers.append(CallbackAnswer(query_id, text, _flag(p.get("show_alert")), at))
        return True

    async def _edit(self, p: dict[str, Any], at: float, method: str) -> Any:
        if p.get("inline_message_id"):
            return True
        chat_id, message_id = self._chat_id(p), _int(p.get("message_id"))
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise _bad("message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise _bad("message can't be edited")
        # Both edits drop the inline keyboard when no reply_markup is passed, like Telegram.
        markup = p.get("reply_markup") if isinstance(p.get("reply_markup"), dict) else None
        text = p.get("text") if method == "editMessageText" else message.get("text")
        if method == "editMessageText" and (not isinstance(text, str) or not text.strip()):
            raise _bad("message text is empty")
        if text == message.get("text") and markup == message.get("reply_markup"):
            raise _bad(_NOT_MODIFIED)
        message.update(text=text, edit_date=int(time.time()))
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        self.edits.append(EditRecord(method, chat_id, message_id, text, markup, at))
        return message

    async def _set_webhook(self, p: dict[str, Any], at: float) -> Any:
        url = str(p.get("url") or "")
        if not url:
            return await self._delete_webhook(p, at)
        self.webhook_url, self.webhook_secret = url, p.get("secret_token") or None
        if isinstance(p.get("allowed_updates"), list):
            self.allowed_updates = p["allowed_updates"]
        if _flag(p.get("drop_pending_updates")):
            self._updates.clear()
        if self._poll is not None:
            self._poll.reason = "Conflict: terminated by setWebhook request"
            self._poll.event.set()
        return True

    async def _delete_webhook(self, p: dict[str, Any], at: float) -> Any:
        self.webhook_url, self.webhook_secret = "", None
        if _flag(p.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, p: dict[str, Any], at: float) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url and self.allowed_updates is not None:
            info["allowed_updates"] = self.allowed_updates
        return info

    async def _set_my_commands(self, p: dict[str, Any], at: float) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        self.commands = commands
        return True

    async def _delete_my_commands(self, p: dict[str, Any], at: float) -> Any:
        self.commands = []
        return True

    def _chat_id(self, p: dict[str, Any]) -> int:
        raw = p.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
