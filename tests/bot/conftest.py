"""A live NextUp for bot tests: the real aiogram bot polling the Telegram Bot API emulator,
and the notification dispatcher sending through it, on the test database and bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from tortoise import connections

from bot.app import run_polling
from core.delivery.dispatcher import Dispatcher, RetryPolicy
from core.domain.model import QueueConfig
from core.services import accounts
from core.settings import load_settings
from core.storage.models import OutboxMessage
from nextup.wiring import Container, build_container
from tests.conftest import TABLES, redis_url, stop_tasks
from tests.emulators.telegram import SentMessage, TelegramEmulator

FAST_RETRY = RetryPolicy(max_attempts=5, base_delay_s=0.2, max_delay_s=1.0)


@dataclass
class Live:
    container: Container
    tg: TelegramEmulator
    dispatcher: Dispatcher

    async def say(self, chat_id: int, text: str, **kw: Any) -> None:
        await self.tg.user_message(chat_id, text, **kw)

    async def reply_to(self, chat_id: int, text: str, contains: str, **kw: Any) -> SentMessage:
        """Sends `text` as the user and returns the bot's answer containing `contains`."""
        already = [m for m in self.tg.messages_to(chat_id) if contains in m.text]
        await self.say(chat_id, text, **kw)
        messages = await self.tg.wait_for_message(chat_id, contains, count=len(already) + 1)
        return messages[len(already)]

    async def outbox(self, ticket_id: str) -> list[OutboxMessage]:
        return await OutboxMessage.filter(ticket_id=ticket_id).order_by("created_at")


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


@contextlib.asynccontextmanager
async def live_nextup(
    migrated: str,
    tg: TelegramEmulator,
    poll: bool = True,
    dispatch: bool = True,
    bus_url: str | None = None,
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Live]:
    """NextUp on the test database; `dispatch=False` leaves sending to another process;
    `settings` adds to (or replaces) the settings of the bot tests."""
    config = load_settings(
        **{
            "database_url": migrated,
            "redis_url": bus_url or redis_url(),
            "telegram_token": tg.token,
            "telegram_api_base": tg.base_url,
            "public_url": "https://queue.example.org",
        }
        | (settings or {})
    )
    container = build_container(config)
    await container.start(migrate=False)
    await connections.get("default").execute_script(
        "".join(f"DELETE FROM {table};" for table in TABLES)
    )
    assert container.telegram is not None
    dispatcher = container.notification_dispatcher(retry=FAST_RETRY, **overrides)
    jobs: list[Awaitable[Any]] = [dispatcher.run()] if dispatch else []
    if poll:
        jobs.append(run_polling(container.telegram.bot, container.telegram.dispatcher))
    tasks = [asyncio.create_task(job) for job in jobs]  # type: ignore[arg-type]
    try:
        yield Live(container, tg, dispatcher)
    finally:
        try:
            await stop_tasks(tasks)
        finally:  # a stuck task fails the test, but its database and sessions still close
            await dispatcher.close()
            await container.stop()


@pytest.fixture
async def live(
    migrated: str, tg: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Live]:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    async with live_nextup(migrated, tg) as running:
        await running.container.queues.create_queue(
            "PHARM",
            "Pharmacy",
            "A",
            QueueConfig(default_service_s=300),
            ["1", "2"],
            public_name="Pharmacy",
        )
        yield running
