"""A live NextUp with both patient channels: the real aiogram bot polling the Telegram Bot
API emulator and the real twilio client sending to the Twilio emulator, whose texts reach
the app's signed webhook over HTTP; the dispatcher sends through both."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from tortoise import connections

from bot.app import run_polling
from core.delivery.dispatcher import Dispatcher, RetryPolicy
from core.domain.model import QueueConfig
from core.settings import load_settings
from nextup.wiring import Container, build_container
from sms.webhooks import sms_blueprint
from tests.conftest import TABLES, redis_url, stop_tasks
from tests.emulators.telegram import TelegramEmulator
from tests.emulators.twilio import TwilioEmulator
from tests.servers import serve, shut
from web.app import create_app

PUBLIC_URL = "https://nextup.example.org"
SECRET_KEY = "privacy-test-secret-key-of-32-characters"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=1.0)


@dataclass
class Clinic:
    container: Container
    tg: TelegramEmulator
    twilio: TwilioEmulator
    dispatcher: Dispatcher
    database_url: str
    local_url: str

    async def text(self, phone: str, body: str) -> list[str]:
        """The patient texts `body`; returns the texts of the app's TwiML answer."""
        answer = await self.twilio.send_sms(phone, body)
        assert answer.status == 200, answer.text
        return answer.messages

    async def until(self, check: Any, timeout_s: float = 8.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await check():
            if loop.time() > deadline:
                raise AssertionError(f"not met in {timeout_s} s\n{self.twilio.dump()}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def clinic(migrated: str) -> AsyncIterator[Clinic]:
    async with TelegramEmulator() as tg, TwilioEmulator(numbers=("+15550000001",)) as twilio:
        settings = load_settings(
            database_url=migrated,
            redis_url=redis_url(),
            secret_key=SECRET_KEY,
            public_url=PUBLIC_URL,
            telegram_token=tg.token,
            telegram_api_base=tg.base_url,
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_from=",".join(twilio.numbers),
            twilio_api_base=twilio.base_url,
        )
        container = build_container(settings)
        await container.start(migrate=False)
        await connections.get("default").execute_script(
            "".join(f"DELETE FROM {table};" for table in TABLES)
        )
        app = create_app(container, name=f"privacy{id(twilio)}")
        app.blueprint(sms_blueprint(container.sms, twilio.auth_token, PUBLIC_URL))
        server, local_url = await serve(app)
        twilio.callback_base = local_url
        twilio.sms_webhook_url = f"{PUBLIC_URL}/hooks/twilio/sms"
        dispatcher = container.notification_dispatcher(retry=FAST_RETRY, poll_interval_s=0.2)
        assert container.telegram is not None
        tasks = [
            asyncio.create_task(dispatcher.run()),
            asyncio.create_task(run_polling(container.telegram.bot, container.telegram.dispatcher)),
        ]
        await container.queues.create_queue(
            "PHARM", "Pharmacy", "A", QueueConfig(default_service_s=300), ["1", "2"]
        )
        try:
            yield Clinic(container, tg, twilio, dispatcher, migrated, local_url)
        finally:
            await twilio.cancel_callbacks()
            try:
                await stop_tasks(tasks)
            finally:  # a stuck dispatcher or bot fails the test, but the rest still closes
                await dispatcher.close()
                await shut(server)
                await asyncio.sleep(0.05)
                await container.stop()


async def database_dump(database_url: str) -> str:
    """Every row of every table as text: SQLite's `iterdump`, or on PostgreSQL each row of
    each table of the schema cast to text."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        tables = await conn.execute_query_dict(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        lines = []
        for table in sorted(t["table_name"] for t in tables):
            rows = await conn.execute_query_dict(f'SELECT t::text AS row FROM "{table}" t')
            lines += [f"{table}: {r['row']}" for r in rows]
        return "\n".join(lines)
    path = database_url.removeprefix("sqlite://")
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump())
