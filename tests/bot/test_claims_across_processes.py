"""Claims across processes (PostgreSQL): a recipient's messages go in the order decided
whichever dispatcher claims them, and a worker killed with "called" messages in flight
does not hold them for long (its leases are short, since held claims are renewed)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime

import pytest

from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from core.storage.models import OutboxMessage
from tests.bot.conftest import live_nextup
from tests.conftest import on_postgres
from tests.emulators.telegram import TelegramEmulator
from tests.processes import NEXTUP, clean_env

CHATS = range(7000, 7008)
PER_CHAT = 4


def needs_postgres() -> None:
    if not on_postgres():
        pytest.skip("dispatchers claiming side by side need PostgreSQL (SKIP LOCKED)")


async def test_two_dispatchers_keep_each_recipients_order(
    migrated: str, tg: TelegramEmulator
) -> None:
    needs_postgres()
    tg.response_delay_s = 0.05  # sends overlap, so the two claimers interleave
    async with live_nextup(migrated, tg, poll=False, poll_interval_s=0.05) as live:
        other = live.container.notification_dispatcher(poll_interval_s=0.05)
        second = asyncio.create_task(other.run())
        try:
            now = datetime.now(UTC)
            rows = []
            for k in range(PER_CHAT):
                for chat in CHATS:
                    row_id = str(uuid.uuid4())
                    # Every other one urgent: without the order per recipient it would overtake.
                    rows.append(
                        OutboxMessage(
                            id=row_id,
                            idempotency_key=row_id,
                            channel="telegram",
                            recipient=str(chat),
                            kind="called",
                            payload={
                                "queue_name": "Pharmacy",
                                "number": f"N{k}",
                                "counter": "1",
                                "ticket_id": f"t{chat}",  # for its button; no ticket row
                            },
                            urgent=k % 2 == 1,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
            await OutboxMessage.bulk_create(rows)
            await tg.wait_for_sent_count(len(rows), timeout_s=60)
        finally:
            second.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await second
            await other.close()
    for chat in CHATS:
        numbers = [re.search(r"N\d", m.text).group() for m in tg.messages_to(chat)]  # type: ignore[union-attr]
        assert numbers == [f"N{k}" for k in range(PER_CHAT)], (chat, numbers)


def start_worker(db_url: str, tg: TelegramEmulator, log_path: str) -> subprocess.Popen[bytes]:
    """`nextup worker` with the default lease."""
    env = clean_env(
        DATABASE_URL=db_url,
        TELEGRAM_TOKEN=tg.token,
        TELEGRAM_API_BASE=tg.base_url,
        OUTBOX_POLL_S="0.2",
    )
    with open(log_path, "ab") as log:
        return subprocess.Popen([NEXTUP, "worker"], env=env, stdout=log, stderr=log)


async def test_a_killed_workers_calls_go_out_within_10_s_through_another_process(
    migrated: str, tg: TelegramEmulator, tmp_path: object
) -> None:
    needs_postgres()
    chats = range(7100, 7105)
    log_path = f"{tmp_path}/worker.log"
    async with live_nextup(migrated, tg, poll=False, dispatch=False) as live:
        counters = [str(n) for n in range(1, len(chats) + 1)]
        await live.container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), counters)
        worker = start_worker(migrated, tg, log_path)
        try:
            for chat in chats:
                await live.container.queues.join(
                    "PHARM", new_join_request(telegram_chat_id=chat), "test"
                )
            await tg.wait_for_sent_count(len(chats), timeout_s=60)  # the "joined"
            tg.response_delay_s = 600.0  # a provider that has stopped answering
            for counter in counters:
                await live.container.queues.call_next("PHARM", counter, "staff:ana")
            deadline = time.monotonic() + 30
            while len([r for r in tg.requests if "turn" in str(r.params.get("text"))]) < len(chats):
                assert time.monotonic() < deadline, "the worker did not send the calls"
                await asyncio.sleep(0.05)
            # Well past the lease: a slow provider is not a dead worker, the claims hold.
            await asyncio.sleep(7)
            held = await OutboxMessage.filter(kind="called", status="sending").count()
            assert held == len(chats)
            assert await OutboxMessage.filter(kind="called").count() == len(chats)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            killed_at = time.monotonic()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        tg.response_delay_s = 0.0
        running = asyncio.create_task(live.dispatcher.run())  # another process takes over
        try:
            while len([m for m in tg.sent if "turn" in m.text]) < len(chats):
                assert time.monotonic() - killed_at < 10, tg.dump()
                await asyncio.sleep(0.05)
            took_s = time.monotonic() - killed_at
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        assert {m.chat_id for m in tg.sent if "turn" in m.text} == set(chats)
        assert took_s < 10
