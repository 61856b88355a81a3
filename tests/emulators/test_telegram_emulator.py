"""The Telegram emulator, driven by the real aiogram Bot over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.emulators.telegram import TelegramEmulator

KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="On my way", callback_data="ack:7")]]
)


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


def make_bot(tg: TelegramEmulator, token: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    return Bot(token or tg.token, session=session)


@pytest.fixture
async def bot(tg: TelegramEmulator) -> AsyncIterator[Bot]:
    bot = make_bot(tg)
    yield bot
    await bot.session.close()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def test_get_me(bot: Bot, tg: TelegramEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "nextup_test_bot")
    assert tg.requests[-1].method == "getMe" and tg.requests[-1].outcome == "ok"


async def test_send_message_with_keyboard_is_recorded(bot: Bot, tg: TelegramEmulator) -> None:
    first = await bot.send_message(42, "You are number 3", reply_markup=KEYBOARD)
    second = await bot.send_message(42, "You are next", parse_mode="HTML")
    other = await bot.send_message(7, "Hello")
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.chat.id == 42 and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == tg.bot_id
    assert first.reply_markup is not None and first.text == "You are number 3"
    assert first.reply_markup.inline_keyboard[0][0].callback_data == "ack:7"
    assert abs(first.date.timestamp() - time.time()) < 5
    sent = tg.messages_to(42)
    assert [m.text for m in sent] == ["You are number 3", "You are next"]
    assert sent[0].reply_markup == {
        "inline_keyboard": [[{"text": "On my way", "callback_data": "ack:7"}]]
    }
    assert sent[1].reply_markup is None and sent[1].parse_mode == "HTML"
    [found] = await tg.wait_for_message(42, contains="next")
    assert found.message_id == 2


async def test_edits_follow_telegram_rules(bot: Bot, tg: TelegramEmulator) -> None:
    msg = await bot.send_message(42, "Number 3", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text(
        "Number 2", chat_id=42, message_id=msg.message_id, reply_markup=KEYBOARD
    )
    assert isinstance(edited, Message) and edited.text == "Number 2"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=42, message_id=msg.message_id, reply_markup=KEYBOARD
        )
    await bot.edit_message_reply_markup(chat_id=42, message_id=msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=42, message_id=99)
    assert [(e.method, e.text, e.reply_markup is None) for e in tg.edits] == [
        ("editMessageText", "Number 2", False),
        ("editMessageReplyMarkup", "Number 2", True),
    ]
    assert len(tg.sent) == 1


async def test_get_updates_delivers_messages_and_button_presses(
    bot: Bot, tg: TelegramEmulator
) -> None:
    update = await tg.user_message(42, "/start abc", first_name="Ana", language_code="es")
    [got] = await bot.get_updates(allowed_updates=["message", "callback_query"])
    assert got.update_id == update["update_id"] and got.message is not None
    assert got.message.text == "/start abc" and got.message.chat.type == "private"
    assert got.message.from_user is not None and got.message.from_user.language_code == "es"
    assert got.message.entities is not None and got.message.entities[0].type == "bot_command"
    assert got.message.entities[0].length == len("/start")
    assert tg.allowed_updates == ["message", "callback_query"]

    sent = await bot.send_message(42, "Your ticket", reply_markup=KEYBOARD)
    query_id = await tg.press_button(42, sent.message_id, "ack:7")
    updates = await bot.get_updates(offset=got.update_id + 1)
    assert [u.update_id for u in updates] == [got.update_id + 1]
    query = updates[0].callback_query
    assert query is not None and query.id == query_id and query.data == "ack:7"
    assert isinstance(query.message, Message) and query.message.text == "Your ticket"
    assert query.message.reply_markup is not None and query.from_user.first_name == "Ana"

    assert await bot.answer_callback_query(query_id, text="Thanks")
    assert tg.callback_answers[0].text == "Thanks"
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query_id)
    assert await bot.get_updates(offset=updates[-1].update_id + 1) == []


async def test_reply_keyboards_and_contacts(bot: Bot, tg: TelegramEmulator) -> None:
    share = KeyboardButton(text="Share my number", request_contact=True)
    markup = ReplyKeyboardMarkup(keyboard=[[share]], one_time_keyboard=True)
    with pytest.raises(AssertionError, match="no contact button"):
        await tg.share_own_contact(42)  # nothing shown yet to tap
    await bot.send_message(42, "Share it?", reply_markup=markup)
    assert tg.contact_button(42) == {"text": "Share my number", "request_contact": True}
    tg.set_phone(42, "34600111222")
    update = await tg.share_own_contact(42)
    assert tg.contact_button(42) is None  # a one-time keyboard hides once used
    [got] = await bot.get_updates()
    assert got.update_id == update["update_id"] and got.message is not None
    contact = got.message.contact
    assert contact is not None and got.message.text is None
    assert (contact.phone_number, contact.user_id) == ("34600111222", 42)
    assert got.message.from_user is not None and got.message.from_user.id == 42

    await tg.user_contact(42, "+15551230088", first_name="Bo")  # someone not on Telegram
    [other] = await bot.get_updates(offset=got.update_id + 1)
    assert other.message is not None and other.message.contact is not None
    assert other.message.contact.user_id is None

    await bot.send_message(42, "Again?", reply_markup=markup)
    await bot.send_message(42, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert tg.contact_button(42) is None
    with pytest.raises(TelegramBadRequest, match="reply keyboard"):
        await bot.send_message(42, "Bad", reply_markup={"keyboard": [["not a button"]]})  # type: ignore[arg-type]


async def test_long_poll_returns_when_an_update_arrives(bot: Bot, tg: TelegramEmulator) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10, request_timeout=15))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await tg.user_message(5, "hi")
    [update] = await asyncio.wait_for(poll, 2)
    assert update.message is not None and update.message.text == "hi"
    assert time.monotonic() - started < 2


async def test_retry_after(bot: Bot, tg: TelegramEmulator) -> None:
    tg.fail_next("sendMessage", "retry_after")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(42, "hello")
    assert caught.value.retry_after == 2
    assert tg.sent == [] and tg.requests[-1].outcome == "retry_after"
    await bot.send_message(42, "hello")  # only the next call was faulted
    assert len(tg.sent) == 1


async def test_server_error(bot: Bot, tg: TelegramEmulator) -> None:
    tg.fail_next("sendMessage", "server_error", times=2, status=502)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(42, "hello")
    assert tg.sent == [] and [r.outcome for r in tg.requests] == ["server_error"] * 2


async def test_timeout_fault(bot: Bot, tg: TelegramEmulator) -> None:
    tg.fail_next("sendMessage", "timeout", delay_s=3)
    with pytest.raises(TelegramNetworkError, match="Request timeout error"):
        await bot.send_message(42, "slow", request_timeout=1)
    assert tg.snapshot_in_flight() == {(42, "slow")}  # the server is still "working" on it
    assert tg.sent == [] and tg.requests[-1].outcome == "pending"


async def test_timeout_fault_can_deliver_anyway(bot: Bot, tg: TelegramEmulator) -> None:
    tg.fail_next("sendMessage", "timeout", delay_s=1.5, deliver=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(42, "at least once", request_timeout=1)
    [msg] = await tg.wait_for_message(42, timeout_s=3)
    assert msg.text == "at least once" and tg.requests[-1].outcome == "timeout"
    assert tg.in_flight == set()


async def test_response_delay_is_visible_in_flight(bot: Bot, tg: TelegramEmulator) -> None:
    tg.response_delay_s = 0.5
    sending = asyncio.create_task(bot.send_message(42, "delayed"))
    await asyncio.sleep(0.2)
    assert tg.snapshot_in_flight() == {(42, "delayed")} and tg.sent == []
    await sending
    assert tg.in_flight == set() and len(tg.sent) == 1


async def test_wrong_token_and_unknown_method(tg: TelegramEmulator) -> None:
    bot = make_bot(tg, token="999:wrong")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()
    finally:
        await bot.session.close()
    assert tg.requests[-1].outcome == "unauthorized"
    async with aiohttp.ClientSession() as http:
        url = f"{tg.base_url}/bot{tg.token}/sendSticker"
        async with http.post(url, data={"chat_id": "1"}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }


async def test_json_and_get_bodies(tg: TelegramEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{tg.base_url}/bot{tg.token}/sendMessage"
        markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
        body = {"chat_id": 3, "text": "json", "reply_markup": markup}
        async with http.post(url, json=body) as resp:
            assert (await resp.json())["result"]["reply_markup"] == markup
        async with http.get(url, params={"chat_id": "3", "text": "query"}) as resp:
            assert (await resp.json())["result"]["message_id"] == 2
        async with http.get(url, params={"chat_id": "@someone", "text": "x"}) as resp:
            assert resp.status == 400
        form = aiohttp.FormData({"chat_id": "3", "text": "multipart"})
        form.add_field("document", b"data", filename="a.txt")
        async with http.post(url, data=form) as resp:
            assert resp.status == 200
    assert [(m.text, m.reply_markup) for m in tg.sent] == [
        ("json", markup),
        ("query", None),
        ("multipart", None),
    ]
    assert tg.requests[-1].params["document"] == "<file a.txt>"
    assert tg.requests[-2].outcome == "bad_request"


async def test_blocked_chat(bot: Bot, tg: TelegramEmulator) -> None:
    tg.block_chat(42)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(42, "hello")
    assert tg.sent == []


async def test_webhook(bot: Bot, tg: TelegramEmulator) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, url = await serve(app)
    try:
        poll = asyncio.create_task(bot.get_updates(timeout=10, request_timeout=15))
        await asyncio.sleep(0.1)
        assert await bot.set_webhook(url, secret_token="s3cret", drop_pending_updates=True)
        with pytest.raises(TelegramConflictError, match="terminated by setWebhook request"):
            await poll
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        update = await tg.user_message(42, "hi")
        await tg.press_button(42, 1, "ack:1")
        assert [secret for _, secret in received] == ["s3cret", "s3cret"]
        assert received[0][0] == update and tg.webhook_responses == [200, 200]
        assert received[1][0]["callback_query"]["message"]["message_id"] == 1
        assert await bot.delete_webhook()
        await tg.user_message(42, "back to polling")
        [polled] = await bot.get_updates()
        assert polled.message is not None and polled.message.text == "back to polling"
    finally:
        await runner.cleanup()


async def test_webhook_reply_is_executed(bot: Bot, tg: TelegramEmulator) -> None:
    """aiogram answers a webhook with the handler's method call; Telegram runs it."""
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> SendMessage:
        return message.answer("Welcome!", reply_markup=KEYBOARD)

    @dispatcher.callback_query()
    async def ack(query: CallbackQuery) -> None:
        await query.answer("Noted")

    app = web.Application()
    handler = SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token="k")
    handler.register(app, path="/hook")
    runner, url = await serve(app)
    try:
        await bot.set_webhook(url, secret_token="k")
        await tg.user_message(42, "/start")
        [welcome] = await tg.wait_for_message(42, contains="Welcome")
        assert welcome.reply_markup is not None and tg.requests[-1].source == "webhook_reply"
        await tg.press_button(42, welcome.message_id, "ack:7")
        assert [a.text for a in tg.callback_answers] == ["Noted"]
        await bot.set_webhook(url, secret_token="wrong")
        await tg.user_message(42, "/start")
        assert tg.webhook_responses == [200, 200, 401]
    finally:
        await runner.cleanup()


async def test_enforce_limits(bot: Bot, tg: TelegramEmulator) -> None:
    tg.enforce_limits(per_bot_per_s=3, per_chat_interval_s=1.0)
    await bot.send_message(1, "first")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(1, "too soon")
    assert caught.value.retry_after == 1
    for chat in (2, 3):
        await bot.send_message(chat, "other chats are fine")
    with pytest.raises(TelegramRetryAfter):  # 4th in one second for the bot
        await bot.send_message(4, "over the bot limit")
    assert tg.too_many_requests == 2 and len(tg.sent) == 3


async def test_commands_and_wait_failure_dump(bot: Bot, tg: TelegramEmulator) -> None:
    from aiogram.types import BotCommand

    assert await bot.set_my_commands([BotCommand(command="start", description="Join")])
    assert tg.commands == [{"command": "start", "description": "Join"}]
    assert await bot.delete_my_commands()
    await bot.send_message(42, "Number 3")
    with pytest.raises(AssertionError, match="'Number 3'") as caught:
        await tg.wait_for_message(42, contains="next", timeout_s=0.2)
    assert "sendMessage -> ok" in str(caught.value)
    with pytest.raises(TelegramNotFound):
        await bot.get_chat(42)  # not emulated
