"""The bot session's limiter: what it books, and what it lets through while Redis is down."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiogram.methods import GetUpdates, SendMessage

from bot.limits import LimitedRequests
from core.delivery.limits import ALREADY_LIMITED, LocalLimiter, Rule, Verdict, telegram_limits


class Recording(LocalLimiter):
    def __init__(self, elsewhere: bool = False) -> None:
        super().__init__()
        self.asked: list[list[str]] = []
        self.elsewhere = elsewhere

    async def acquire(self, rules: Sequence[Rule]) -> Verdict:
        self.asked.append([r.key for r in rules])
        chat_rules = [r for r in rules if r.per_recipient]
        if self.elsewhere and chat_rules:
            return Verdict(1.0, chat_rules[0], elsewhere=True)
        return await super().acquire(rules)


async def answer(bot: Any, method: Any) -> str:
    return "done"


async def test_a_send_to_a_chat_is_booked_under_the_bot_and_the_chat() -> None:
    limiter = Recording()
    middleware = LimitedRequests(limiter, telegram_limits("1"))
    assert await middleware(answer, None, SendMessage(chat_id=5, text="hi")) == "done"  # type: ignore[arg-type]
    assert limiter.asked == [["telegram:1", "telegram:1:spread", "telegram:1:to:5"]]


async def test_polling_and_the_dispatcher_s_own_sends_are_not_booked_again() -> None:
    limiter = Recording()
    middleware = LimitedRequests(limiter, telegram_limits("1"))
    await middleware(answer, None, GetUpdates())  # type: ignore[arg-type]
    token = ALREADY_LIMITED.set(True)
    try:
        await middleware(answer, None, SendMessage(chat_id=5, text="hi"))  # type: ignore[arg-type]
    finally:
        ALREADY_LIMITED.reset(token)
    assert limiter.asked == []


async def test_a_reply_goes_within_the_bot_s_share_when_another_process_has_the_chat() -> None:
    limiter = Recording(elsewhere=True)
    middleware = LimitedRequests(limiter, telegram_limits("1"))
    assert await middleware(answer, None, SendMessage(chat_id=5, text="hi")) == "done"  # type: ignore[arg-type]
    assert limiter.asked[-1] == ["telegram:1", "telegram:1:spread"]
