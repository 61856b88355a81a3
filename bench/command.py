"""Benchmark: what one queue command costs in the service, and whether it grows with the line.

    NEXTUP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/command.py [--waiting 10 800] [--rounds 200] [--profile] \
        [--profile-sort cumulative] [--mode fifo|dynamic|short_first] \
        [--database nextup_bench_command]

Runs join, call-next and complete through `QueueService` (no HTTP, the in-process bus) on a
queue that starts with each number of waiting tickets and a week of completed visits; every
round joins one, calls one and completes it, so the line keeps its length, then has the
timer re-evaluate the line (`reevaluate`: claim, load, rank, settle; usually nothing to
write). Prints the median wall time and CPU time of each command and, with --profile, a
cProfile top list of the call-nexts on the longest line.

The database named in the URL is never touched: a database of its own (`--database`,
`nextup_bench_command` by default) is created on that server, migrated, and dropped at the
end. Without the variable a temporary SQLite file is used.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import re
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.bus.memory import InProcessBus
from core.domain.model import QueueConfig, QueueMode, Ticket, TicketStatus
from core.services.queues import QueueService, new_join_request
from core.storage import db, pseudonyms
from core.storage.mapping import ticket_columns
from core.storage.models import TicketRow

DATABASE = "nextup_bench_command"
HISTORY_VISITS = 2000
"""Completed visits over the last week: what the learned service times stand on."""


async def seed(code: str, waiting: int, now: datetime) -> None:
    """`waiting` tickets in line and a week of completed visits, written in bulk."""
    from core.storage.models import QueueRow

    queue_id = (await QueueRow.get(code=code)).id
    rows = []
    for n in range(HISTORY_VISITS):
        finished = (
            now - timedelta(days=7) + timedelta(seconds=(n + 1) * 7 * 86400 / (HISTORY_VISITS + 1))
        )
        rows.append(
            _row(queue_id, code, n, finished - timedelta(minutes=10), TicketStatus.DONE, finished)
        )
    for n in range(waiting):
        joined = now - timedelta(seconds=waiting - n)
        rows.append(_row(queue_id, code, HISTORY_VISITS + n, joined, TicketStatus.WAITING, None))
    await TicketRow.bulk_create(rows, batch_size=500)


def _row(
    queue_id: int,
    code: str,
    seq: int,
    joined: datetime,
    status: TicketStatus,
    done: datetime | None,
) -> TicketRow:
    ticket = Ticket(
        id=str(uuid.uuid4()),
        queue=code,
        number=f"A{seq:04d}",
        seq=seq,
        token=uuid.uuid4().hex,
        joined_at=joined,
        line_at=joined,
        status=status,
        counter="1" if done else None,
        called_at=joined + timedelta(minutes=2) if done else None,
        finished_at=done,
        phone=f"+4930{seq:07d}",
    )
    return TicketRow(id=ticket.id, queue_id=queue_id, **ticket_columns(ticket))


async def measure(
    service: QueueService, code: str, rounds: int, profiler: cProfile.Profile | None
) -> dict[str, tuple[list[float], list[float]]]:
    timings: dict[str, tuple[list[float], list[float]]] = {
        op: ([], []) for op in ("join", "call_next", "complete", "reevaluate")
    }

    async def timed(op: str, command: Awaitable[Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler and op == "call_next":
            profiler.enable()
        result = await command
        if profiler and op == "call_next":
            profiler.disable()
        timings[op][0].append(time.perf_counter() - wall)
        timings[op][1].append(time.process_time() - cpu)
        return result

    for n in range(rounds):
        request = new_join_request(name=f"p{n}", phone=f"+4931{n:07d}")
        await timed("join", service.join(code, request, "bench"))
        called = await timed("call_next", service.call_next(code, "1", "bench"))
        await timed("complete", service.ticket_action(called.id, "complete", "bench"))
        [line] = [line for line in await service.live_lines() if line.code == code]
        await timed("reevaluate", service.reevaluate(line))
    return timings


async def run(
    url: str,
    waiting_counts: list[int],
    rounds: int,
    profile: bool,
    mode: QueueMode,
    profile_sort: str = "tottime",
) -> None:
    await db.migrate(url)
    await db.connect(url)
    pseudonyms.use_secret(secrets.token_urlsafe(32))  # the joins' consent rows hash numbers
    try:
        service = QueueService(InProcessBus(), lambda: datetime.now(UTC))
        print(f"{'waiting':>8} {'command':>10} {'median ms':>10} {'cpu ms':>8}")
        for waiting in waiting_counts:
            code = f"B{waiting}"
            await service.create_queue(code, code, "A", QueueConfig(mode=mode), ["1"])
            await seed(code, waiting, datetime.now(UTC))
            profiler = cProfile.Profile() if profile and waiting == max(waiting_counts) else None
            await measure(service, code, 5, None)  # warm: caches, prepared statements
            timings = await measure(service, code, rounds, profiler)
            for op, (wall, cpu) in timings.items():
                print(
                    f"{waiting:>8} {op:>10} {statistics.median(wall) * 1000:>10.2f}"
                    f" {statistics.median(cpu) * 1000:>8.2f}"
                )
            if profiler:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(profile_sort).print_stats(40)
                print(f"\ncall-next with {waiting} waiting, by {profile_sort}:\n{out.getvalue()}")
    finally:
        await db.disconnect()


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres", query="")))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waiting", type=int, nargs="+", default=[10, 800])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--profile-sort", default="tottime", help="pstats order: tottime (own time), cumulative"
    )
    parser.add_argument("--mode", type=QueueMode, default=QueueMode.FIFO)
    parser.add_argument("--database", default=DATABASE)
    args = parser.parse_args()
    database = args.database
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise SystemExit("--database: lower-case letters, digits and _ only")
    server = os.environ.get("NEXTUP_BENCH_DATABASE_URL")
    if server is None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
            asyncio.run(
                run(url, args.waiting, args.rounds, args.profile, args.mode, args.profile_sort)
            )
        return
    parts = urlsplit(server)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("only a local PostgreSQL is benchmarked")
    url = urlunsplit(parts._replace(path=f"/{database}"))
    asyncio.run(_admin(url, f"DROP DATABASE IF EXISTS {database}"))
    asyncio.run(_admin(url, f"CREATE DATABASE {database}"))
    try:
        asyncio.run(run(url, args.waiting, args.rounds, args.profile, args.mode, args.profile_sort))
    finally:
        asyncio.run(_admin(url, f"DROP DATABASE IF EXISTS {database}"))


if __name__ == "__main__":
    main()
