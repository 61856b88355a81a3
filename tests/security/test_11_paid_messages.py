"""Point 11: one phone number cannot run up the SMS bill. Joins and replies per sender are
throttled and texts per number capped per day (counted in the database, so every process
sees the same counts), senders from countries not served get nothing, and the console's
patient simulator is off whenever a real channel is set. Real twilio client and webhooks,
through the Twilio emulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from core.domain.model import QueueConfig
from core.services import accounts
from core.storage.models import TicketRow
from tests.emulators.twilio import TwilioEmulator
from tests.sms.conftest import NUMBERS, LiveSms, live_sms
from tests.web.sessions import csrf_token, log_in

PHONE = "+15551239001"


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioEmulator]:
    async with TwilioEmulator(numbers=NUMBERS) as emulator:
        yield emulator


@contextlib.asynccontextmanager
async def nextup(migrated: str, twilio: TwilioEmulator, **settings: Any) -> AsyncIterator[LiveSms]:
    async with live_sms(migrated, twilio, phone_region="US", **settings) as running:
        await running.container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
        yield running


async def answered(live: LiveSms, phone: str, body: str) -> bool:
    reply = await live.text(phone, body)
    assert reply.status == 200, reply.text
    return bool(reply.messages)


async def test_join_leave_cycles_are_throttled(migrated: str, twilio: TwilioEmulator) -> None:
    async with nextup(migrated, twilio, sms_joins_per_hour=3, sms_replies_per_hour=8) as live:
        replies = 0
        for _ in range(15):
            replies += await answered(live, PHONE, "JOIN PHARM")
            replies += await answered(live, PHONE, "LEAVE")
        assert await TicketRow.filter(phone=PHONE).count() == 3  # the fourth JOIN was ignored
        assert replies == 8  # 3 joined + 3 left + 2 "you are not waiting", then silence
        assert len(live.twilio.messages_to(PHONE)) == 8
        # Another number is not held back by the first one's limits.
        assert await answered(live, "+15551239002", "JOIN PHARM")


async def test_texts_per_number_are_capped_per_day(migrated: str, twilio: TwilioEmulator) -> None:
    async with nextup(migrated, twilio, sms_replies_per_hour=100, sms_daily_cap=5) as live:
        got = [await answered(live, PHONE, "STATUS") for _ in range(8)]
        assert got == [True] * 5 + [False] * 3


async def test_senders_outside_the_allowed_countries_get_nothing(
    migrated: str, twilio: TwilioEmulator
) -> None:
    async with nextup(migrated, twilio) as live:  # default: the phone region, US
        assert not await answered(live, "+447700900123", "JOIN PHARM")
        assert await TicketRow.filter(phone="+447700900123").count() == 0
        assert await answered(live, PHONE, "JOIN PHARM")
    async with nextup(migrated, twilio, sms_allowed_countries="us,gb") as live:
        assert await answered(live, "+447700900123", "JOIN PHARM")


async def test_simulator_is_off_with_a_real_channel(
    migrated: str, twilio: TwilioEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    # Development mode, real Twilio credentials; plain http so the console's cookies work.
    async with nextup(migrated, twilio, public_url=None) as live:
        assert live.container.settings.dev_inbox and live.container.settings.sms_configured
        await accounts.create_account("admin-user", "admin", "correct horse")
        async with httpx.AsyncClient(base_url=live.local_url, timeout=10) as console:
            assert (await log_in(console, "admin-user")).status_code == 303
            csrf = await csrf_token(console)
            page = await console.get("/console/inbox")
            assert page.status_code == 200 and "simulator is off" in page.text
            for path, form in [
                ("/console/inbox/simulate", {"channel": "sms", "phone": PHONE, "text": "HELP"}),
                ("/console/inbox/press", {"message_id": "1", "data": "x"}),
            ]:
                r = await console.post(path, data={**form, "csrf_token": csrf})
                assert r.status_code == 404, r.text
        assert live.twilio.messages_to(PHONE) == []
