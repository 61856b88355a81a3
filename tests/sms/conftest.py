"""A live NextUp for SMS tests: the real twilio client sending to the Twilio REST emulator,
and the app's Twilio webhooks served over real HTTP, on the test database and bus.

The app believes it is reachable at `PUBLIC_URL` (as behind a proxy); the emulator signs
its webhooks for that URL and delivers them to the local server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tortoise import connections

from core.delivery.dispatcher import Dispatcher, RetryPolicy
from core.domain.ladder import Rung, Step
from core.domain.model import QueueConfig
from core.settings import load_settings
from core.storage.models import OutboxMessage
from nextup.wiring import Container, build_container
from sms.webhooks import sms_blueprint
from tests.conftest import TABLES, redis_url, stop_tasks
from tests.emulators.twilio import InboundReply, SentSms, TwilioEmulator
from tests.servers import serve, shut
from web.app import create_app

PUBLIC_URL = "https://nextup.example.org"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=1.0)
NUMBERS = ("+15550000001",)


@dataclass
class LiveSms:
    container: Container
    twilio: TwilioEmulator
    dispatcher: Dispatcher
    local_url: str
    dispatcher_task: asyncio.Task[None]

    async def text(self, phone: str, body: str) -> InboundReply:
        """The patient texts `body`; returns the app's TwiML answer."""
        return await self.twilio.send_sms(phone, body)

    async def reply(self, phone: str, body: str) -> str:
        answer = await self.text(phone, body)
        assert answer.status == 200, answer.text
        assert len(answer.messages) == 1, answer.text
        return answer.messages[0]

    def notifications_to(self, phone: str) -> list[SentSms]:
        """What NextUp sent `phone` through the API (not replies to the patient's texts)."""
        return [m for m in self.twilio.messages_to(phone) if m.direction == "outbound-api"]

    async def sms(self, phone: str, contains: str, count: int = 1, timeout_s: float = 5) -> SentSms:
        """The `count`-th notification to `phone` containing `contains`, once it arrives."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            found = [m for m in self.notifications_to(phone) if contains in m.body]
            if len(found) >= count:
                return found[count - 1]
            if loop.time() > deadline:
                raise AssertionError(f"no SMS {contains!r} to {phone}\n{self.twilio.dump()}")
            await asyncio.sleep(0.02)

    async def until(self, check: Callable[[], Awaitable[bool]], timeout_s: float = 5) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await check():
            if loop.time() > deadline:
                raise AssertionError(f"condition not met in {timeout_s} s\n{self.twilio.dump()}")
            await asyncio.sleep(0.02)

    async def outbox(self, ticket_id: str) -> list[OutboxMessage]:
        return await OutboxMessage.filter(ticket_id=ticket_id).order_by("created_at")


@contextlib.asynccontextmanager
async def live_sms(
    migrated: str, twilio: TwilioEmulator, **settings: Any
) -> AsyncIterator[LiveSms]:
    defaults: dict[str, Any] = {
        "database_url": migrated,
        "redis_url": redis_url(),
        "public_url": PUBLIC_URL,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "twilio_from": ",".join(twilio.numbers),
        "twilio_api_base": twilio.base_url,
    }
    config = load_settings(**(defaults | settings))
    container = build_container(config)
    await container.start(migrate=False)
    await connections.get("default").execute_script(
        "".join(f"DELETE FROM {table};" for table in TABLES)
    )
    app = create_app(container, name=f"sms{id(twilio)}")
    app.blueprint(sms_blueprint(container.sms, twilio.auth_token, PUBLIC_URL))
    server, local_url = await serve(app)
    twilio.callback_base = local_url
    twilio.sms_webhook_url = f"{PUBLIC_URL}/hooks/twilio/sms"
    dispatcher = container.notification_dispatcher(retry=FAST_RETRY, poll_interval_s=0.2)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield LiveSms(container, twilio, dispatcher, local_url, task)
    finally:
        await twilio.cancel_callbacks()
        try:
            await stop_tasks([task])
        finally:  # a stuck dispatcher fails the test, but the rest still closes
            await dispatcher.close()
            await shut(server)
            await asyncio.sleep(0.05)  # wait_closed does not wait for handlers still running
            await container.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioEmulator]:
    async with TwilioEmulator(numbers=NUMBERS) as emulator:
        yield emulator


@pytest.fixture
async def live(migrated: str, twilio: TwilioEmulator) -> AsyncIterator[LiveSms]:
    async with live_sms(migrated, twilio) as running:
        # A call unanswered on Telegram goes again by SMS after a second; nothing follows.
        config = QueueConfig(default_service_s=300, call_ladder=(Rung(Step.SMS, 1),))
        await running.container.queues.create_queue(
            "PHARM", "Pharmacy", "A", config, ["1", "2"], public_name="Pharmacy"
        )
        yield running
