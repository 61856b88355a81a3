"""The daily purge: every serving and worker process asks, one of them erases, once, in
transactions of a bounded number of tickets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from core.domain.model import QueueConfig
from core.services import privacy
from core.services.queues import new_join_request
from core.storage import erasure
from core.storage.erasure import Counts
from core.storage.models import MaintenanceLease, OutboxMessage, PrivacyLogRow, TicketRow
from nextup.wiring import Container
from tests.conftest import FakeClock
from tests.privacy.conftest import database_dump
from tests.processes import clean_env

VISITS = 23
ONE_PROCESS_PURGE = """
import asyncio, json
from core.settings import load_settings
from nextup.wiring import build_container

async def main():
    container = build_container(load_settings())
    await container.start(migrate=False)
    try:
        counts = await container.privacy.purge_if_due()
        print(json.dumps(counts))
    finally:
        await container.stop()

asyncio.run(main())
"""


async def ended_visits(container: Container, clock: FakeClock, count: int = VISITS) -> None:
    queues = container.queues
    await queues.create_queue("LAB", "Laboratory", "L", QueueConfig(), ["1"])
    for n in range(count):
        request = new_join_request(name=f"Patient {n}", phone=f"+3461{n:07d}")
        await queues.join("LAB", request, "staff:reception")
    for _ in range(count):
        called = await queues.call_next("LAB", "1", "staff:nurse")
        clock.advance(minutes=2)
        await queues.ticket_action(called.id, "complete", "staff:nurse")
    clock.advance(days=31)


async def test_the_purge_erases_in_batches_of_bounded_size(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ended_visits(container, clock)
    batches: list[int] = []
    erase = erasure.erase_tickets

    async def recorded(ids: Sequence[str], now: object) -> Counts:
        batches.append(len(ids))
        return await erase(ids, clock())

    monkeypatch.setattr(privacy, "BATCH", 5)
    monkeypatch.setattr(erasure, "erase_tickets", recorded)
    counts = await container.privacy.purge_if_due()
    assert counts is not None and counts["tickets"] == VISITS
    assert batches == [5, 5, 5, 5, 3]
    # No dispatcher ran: the visits' messages were never sent, and now never will be.
    assert counts["messages"] == await OutboxMessage.all().count() > 0
    assert not await OutboxMessage.exclude(recipient="").exists()
    assert {m.last_error for m in await OutboxMessage.all()} == {erasure.NOT_SENT}
    # Done today: the next process to ask gets nothing to do until tomorrow.
    assert await container.privacy.purge_if_due() is None
    clock.advance(days=1, seconds=1)
    assert await container.privacy.purge_if_due() == {}
    assert await TicketRow.filter(phone__isnull=False).count() == 0


async def test_two_purges_at_once_erase_each_visit_once(
    container: Container, clock: FakeClock
) -> None:
    await ended_visits(container, clock)
    other = privacy.PrivacyService(container.queues, clock, retention_days=30)
    results = await asyncio.gather(container.privacy.purge(), other.purge())
    assert sum(r["tickets"] for r in results) == VISITS
    assert sorted(r["tickets"] for r in results) == [0, VISITS]
    assert (await MaintenanceLease.get(name=privacy.PURGE_JOB)).holder is None


async def test_the_daily_run_in_two_processes_erases_once(
    container: Container, clock: FakeClock, migrated: str, tmp_path: Path
) -> None:
    await ended_visits(container, clock)
    env = clean_env(database_url=migrated, secret_key="test-key", retention_days="0")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", ONE_PROCESS_PURGE],
            cwd=Path(__file__).parents[2],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [await asyncio.to_thread(run.communicate, timeout=120) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
    results = [json.loads(out) for out, _ in outputs]
    assert sorted(results, key=lambda r: r is not None) == [None, results[0] or results[1]]
    done = results[0] or results[1]
    assert done["tickets"] == VISITS
    assert await TicketRow.filter(name__isnull=False).count() == 0
    assert await PrivacyLogRow.filter(kind="purge").count() == 1
    lease = await MaintenanceLease.get(name=privacy.PURGE_JOB)
    assert lease.holder is None and lease.last_done_at is not None
    assert lease.last_done_at > clock() - timedelta(days=1)  # real time is past the clock


async def test_serving_processes_purge_once_a_day_between_them(
    container: Container, clock: FakeClock
) -> None:
    """The loop each `serve` and `worker` process runs: two of them, asking often, purge
    once (the lease row says it was done today)."""
    await ended_visits(container, clock)
    services = [container.privacy, privacy.PrivacyService(container.queues, clock, 30)]
    loops = [asyncio.create_task(s.purge_daily_forever(0.02, first_s=0)) for s in services]
    try:
        for _ in range(200):
            if await TicketRow.filter(purged_at__isnull=True).count() == 0:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # many more checks: none purges again today
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    assert await TicketRow.filter(purged_at__isnull=True).count() == 0
    runs = await PrivacyLogRow.filter(kind="purge").values_list("counts", flat=True)
    assert len(runs) == 1 and runs[0]["tickets"] == VISITS


async def test_a_left_message_still_unsent_at_erasure_is_erased_once_it_goes(
    container: Container, migrated: str
) -> None:
    """No dispatcher runs here: the erasure cannot wait for the "left" message, so that one
    message keeps its recipient until it is sent; the next purge erases it then."""
    await container.queues.create_queue("LAB", "Laboratory", "L", QueueConfig(), ["1"])
    request = new_join_request(name="Dora Unsent", phone="+34600777888")
    await container.queues.join("LAB", request, "staff:reception")
    await OutboxMessage.filter(kind="joined").update(status="sent")  # as a dispatcher would
    subject = privacy.Subject.of("+34600777888", None)
    erased = await container.privacy.erase(subject, "cli:dpo", sent_wait_s=0.1)
    assert erased["cancelled"] == 1 and erased["unsent"] == 1, erased
    left = await OutboxMessage.get(kind="left")
    assert left.status == "queued" and left.recipient == "+34600777888"
    assert "Dora Unsent" not in await database_dump(migrated)

    await OutboxMessage.filter(id=left.id).update(status="sent")
    assert (await container.privacy.purge())["messages"] == 1
    dump = await database_dump(migrated)
    assert "34600777888" not in dump and "Dora Unsent" not in dump
