"""Benchmark: joins and call-nexts through the HTTP API on PostgreSQL, against bare SQL.

Run by `make bench`, or directly:

    NEXTUP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/api.py [--rate 200] [--duration 10] [--clients 16]

The database named in NEXTUP_BENCH_DATABASE_URL is never touched: the URL only says which
server and credentials to use. The bench creates its own database on that server
(`nextup_bench`, see --database) through the `postgres` maintenance database, migrates it,
and drops it at the end, also after an error. Only 127.0.0.1 is ever contacted.

Phases, each on a fresh queue:

1. line length (--waiting 10,800): one request at a time, a join then a call-next, on a queue
   holding 10 waiting and on one holding 800: what a command costs as the line grows;
2. open loop (SEED waiting at the start): requests sent at a fixed rate (alternating join /
   call-next), latency measured from each request's scheduled send time, so a slow server is
   not hidden by a slow client (no coordinated omission);
3. closed loop: --clients concurrent clients, each alternating join / call-next as fast as
   it can, for joins/s and call-nexts/s;
4. bare SQL: what the two commands must read and write as hand-written SQL, one transaction
   each, with asyncpg and the same number of concurrent clients: the floor any
   implementation has to pay.

The server is the real `nextup serve` in its own process. Results are printed and written
to bench/results/api-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from core.domain.model import format_number

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SEED = 30
COUNTERS = [str(n) for n in range(1, 129)]
"""One patient per counter: a call-next at a counter whose patient is still called is
refused (409 counter_busy). The call-nexts on a queue go round these counters (`Turns`), and
the finisher below completes the called patients every FINISH_EVERY_S, so a counter is free
again long before its turn comes round (128 counters at 100 call-nexts/s: 1.3 s)."""
P99_TARGET_MS = 50.0
RATIO_TARGET = 2.0
CPU_TARGET_MS = 3.0
"""Server CPU per successful command, under load (open and closed loop)."""
WAITING_TARGET = 1.5
"""Medians with the longest line within this factor of those with the shortest."""
WAITING_WARMUP_PAIRS = 3
REQUEST_TIMEOUT_S = 10.0
SEND_GRACE_S = 5.0
OPS = ("join", "call_next")
PR_SET_PDEATHSIG = 1

Op = Callable[[str, int], Awaitable[bool]]
T = TypeVar("T")
"""(operation, sequence number) -> success."""


# -- figures ----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Recorder:
    ops: tuple[str, ...] = OPS
    latencies: dict[str, list[float]] = field(init=False)
    errors: dict[str, int] = field(init=False)
    error_kinds: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    def __post_init__(self) -> None:
        self.latencies = {op: [] for op in self.ops}
        self.errors = dict.fromkeys(self.ops, 0)

    def record(self, op: str, seconds: float, ok: bool, kind: str = "") -> None:
        if ok:
            self.latencies[op].append(seconds)
        else:
            self.errors[op] += 1
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def summary(self) -> dict[str, Any]:
        elapsed = max(self.finished - self.started, 1e-9)
        result: dict[str, Any] = {"elapsed_s": round(elapsed, 3), "ops": {}}
        everything: list[float] = []
        for op in self.ops:
            values = sorted(self.latencies[op])
            everything += values
            result["ops"][op] = figures(values, elapsed) | {"errors": self.errors[op]}
        result["all"] = figures(sorted(everything), elapsed) | {"errors": sum(self.errors.values())}
        result["error_kinds"] = self.error_kinds
        return result


def figures(values: list[float], elapsed: float) -> dict[str, Any]:
    def ms(v: float) -> float:
        return round(v * 1000, 2)

    return {
        "count": len(values),
        "ops_per_s": round(len(values) / elapsed, 1),
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(values[-1]) if values else float("nan"),
    }


# -- load shapes ------------------------------------------------------------------------------


def op_for(n: int) -> str:
    """Joins and call-nexts alternate, so the line stays near its starting length."""
    return OPS[n % 2]


async def open_loop(
    run: Op,
    rate: float,
    duration: float,
    max_in_flight: int,
    pick: Callable[[int], str] = op_for,
    ops: tuple[str, ...] = OPS,
) -> Recorder:
    """Sends at `rate` per second whatever the server does; latency counts from the schedule.
    Request n is the operation `pick(n)`, one of `ops`.

    At most `max_in_flight` requests are on the wire; the others wait their turn in the client,
    and that wait counts. A request still unsent SEND_GRACE_S after the last scheduled send is
    counted as an error (`not_sent`), and the run waits at most REQUEST_TIMEOUT_S more for the
    ones in flight, so a server that falls behind makes the run fail, not last forever.
    """
    loop = asyncio.get_running_loop()
    rec = Recorder(ops)
    gate = asyncio.Semaphore(max_in_flight)
    total = int(rate * duration)
    rec.started = loop.time() + 0.01
    send_deadline = rec.started + duration + SEND_GRACE_S

    async def fire(n: int, scheduled: float) -> None:
        op = pick(n)
        async with gate:
            if loop.time() > send_deadline:
                rec.record(op, 0.0, False, "not_sent")
                return
            ok, kind = await attempt(run, op, n)
        rec.record(op, loop.time() - scheduled, ok, kind)

    tasks = []
    for n in range(total):
        scheduled = rec.started + n / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(n, scheduled)))
    await asyncio.gather(*tasks)
    rec.finished = loop.time()
    return rec


async def closed_loop(run: Op, clients: int, duration: float) -> Recorder:
    """`clients` workers, each alternating join and call-next back to back."""
    loop = asyncio.get_running_loop()
    rec = Recorder()
    rec.started = loop.time()
    stop = rec.started + duration

    async def worker(k: int) -> None:
        n = k  # half the workers start with a join, half with a call-next
        while loop.time() < stop:
            op = op_for(n)
            began = loop.time()
            ok, kind = await attempt(run, op, n)
            rec.record(op, loop.time() - began, ok, kind)
            n += 1

    await asyncio.gather(*(worker(k) for k in range(clients)))
    rec.finished = loop.time()
    return rec


async def one_at_a_time(run: Op, pairs: int, rec: Recorder | None = None) -> Recorder:
    """A join then a call-next, `pairs` times, each request alone on the server: the line
    keeps its length, and nothing waits behind anything but the command itself. Into `rec`
    when given (its elapsed time grows by this call's)."""
    loop = asyncio.get_running_loop()
    rec = rec or Recorder()
    began_all = loop.time()
    for n in range(2 * pairs):
        op = op_for(n)
        began = loop.time()
        ok, kind = await attempt(run, op, n)
        rec.record(op, loop.time() - began, ok, kind)
    rec.finished += loop.time() - began_all
    return rec


async def attempt(run: Op, op: str, n: int) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            return await run(op, n), ""
    except HttpError as exc:
        return False, str(exc)
    except Exception as exc:  # a failed request is an error figure, not the end of the run
        return False, type(exc).__name__


# -- the API ----------------------------------------------------------------------------------


class Turns:
    """Phone numbers for the whole run, and each queue's counters in turn.

    Every join gets a number of its own: a phone already waiting in the queue gets its ticket
    back (200) and no ticket is made. Each queue's call-nexts go round its counters, so a
    counter comes round again only after all the others have been called to, by when the
    finisher has completed its patient. (Deriving both from a client's request number made
    concurrent clients join with the same phones, so the line drained (409 queue_empty),
    and call to the same counters at the same moment (409 counter_busy).)
    """

    def __init__(self, counters: list[str]) -> None:
        self.counters = counters
        self._phones = itertools.count()
        self._calls: dict[str, int] = {}

    def phone(self) -> str:
        return f"+1555{next(self._phones) % 10_000_000:07d}"

    def counter(self, code: str) -> str:
        n = self._calls.get(code, 0)
        self._calls[code] = n + 1
        return self.counters[n % len(self.counters)]


class ApiClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        connections: int,
        turns: Turns | None = None,
        statuses: dict[str, int] | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self.turns = turns or Turns(COUNTERS)
        self.statuses = {} if statuses is None else statuses
        """Answers by operation and HTTP status, e.g. `call_next 409`."""

    async def close(self) -> None:
        await self.http.aclose()

    async def create_queue(self, code: str) -> None:
        body = {
            "code": code,
            "name": f"Bench {code}",
            "prefix": "B",
            "counters": self.turns.counters,
        }
        response = await self.http.post("/api/v1/queues", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"creating queue {code}: {response.status_code} {response.text}")

    async def join(self, code: str) -> httpx.Response:
        """A walk-in with a phone number, so joining and calling also write outbox rows."""
        body = {"phone": self.turns.phone()}
        return await self.http.post(f"/api/v1/queues/{code}/tickets", json=body)

    async def call_next(self, code: str) -> httpx.Response:
        body = {"counter": self.turns.counter(code)}
        return await self.http.post(f"/api/v1/queues/{code}/call-next", json=body)

    def check(self, op: str, response: httpx.Response) -> bool:
        """Counts the answer by status; anything but a success is an `HttpError`."""
        key = f"{op} {response.status_code}"
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if not response.is_success:
            raise HttpError(response)
        return True

    def runner(self, code: str) -> Op:
        async def run(op: str, n: int) -> bool:
            if op == "join":
                return self.check(op, await self.join(code))
            return self.check(op, await self.call_next(code))

        return run


class HttpError(Exception):
    """An answer other than 2xx; its text is the status and the API's error code, which is
    what the error figures are counted by (`HTTP 409 counter_busy`)."""

    def __init__(self, response: httpx.Response) -> None:
        code = ""
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            code = response.json()["error"]["code"]
        super().__init__(f"HTTP {response.status_code} {code}".strip())


# -- bare SQL ---------------------------------------------------------------------------------

LIVE = ["waiting", "called", "serving"]
NOTIFY_POSITIONS = [3, 1]
"""A patient reaching one of these places is told to come back ("close"), as the app's
default queue configuration does."""

SQL_LOCK = "SELECT id, prefix, day_seq, day_seq_date FROM queues WHERE code = $1 FOR UPDATE"
SQL_SIZE = (
    "SELECT count(*) FILTER (WHERE status = 'waiting') AS waiting, count(*) AS live"
    " FROM tickets WHERE queue_id = $1 AND status = ANY($2::varchar[])"
)
SQL_SEQ = "UPDATE queues SET day_seq = $2, day_seq_date = $3 WHERE id = $1"
SQL_TICKET = """
INSERT INTO tickets (id, queue_id, number, seq, token, status, priority, joined_at, line_at,
                     recall_count, phone, version, late_count, leave_now_sent)
VALUES ($1, $2, $3, $4, $5, 'waiting', 0, $6, $6, 0, $7, 0, 0, false)
"""
SQL_EVENT = """
INSERT INTO ticket_events (id, ticket_id, queue_code, type, from_status, to_status,
                           old_position, new_position, counter, actor, at, data, seq)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13)
"""
SQL_OUTBOX = """
INSERT INTO outbox (id, idempotency_key, ticket_id, event_id, channel, recipient, kind, payload,
                    urgent, status, attempts, next_attempt_at, created_at)
VALUES ($1, $2, $3, $4, 'sms', $5, $6, $7::jsonb, $8, 'queued', 0, $9, $9)
"""
SQL_METRIC = """
INSERT INTO hourly_metrics AS m (queue_id, hour_start, joined, called, completed, no_shows,
                                 cancelled, wait_s_sum, wait_s_max, service_s_sum, peak_size,
                                 size_sum, size_samples)
VALUES ($1, $2, $3, $4, 0, 0, 0, $5, $5, 0, $6, $6, 1)
ON CONFLICT (queue_id, hour_start) DO UPDATE SET
    joined = m.joined + EXCLUDED.joined,
    called = m.called + EXCLUDED.called,
    wait_s_sum = m.wait_s_sum + EXCLUDED.wait_s_sum,
    wait_s_max = GREATEST(m.wait_s_max, EXCLUDED.wait_s_max),
    peak_size = GREATEST(m.peak_size, EXCLUDED.peak_size),
    size_sum = m.size_sum + EXCLUDED.size_sum,
    size_samples = m.size_samples + 1
"""
SQL_HEAD = """
SELECT id, joined_at, phone, count(*) OVER () AS waiting
FROM tickets WHERE queue_id = $1 AND status = 'waiting'
ORDER BY line_at, seq, id LIMIT $2
"""
"""The first in line (FIFO: the order the app ranks by) and those who will then be at the
notify positions, with the length of the line for the hourly size sample."""
SQL_CALL = (
    "UPDATE tickets SET status = 'called', counter = $2, called_at = $3,"
    " version = version + 1 WHERE id = $1"
)


class QueueEmpty(Exception):
    pass


class BareSql:
    """The floor: what a join and a call-next must read and write, one transaction each.

    Neither writes a row per ticket behind: the order of the line is derived from when the
    tickets joined (no position column is read or written), so what the floor writes does
    not grow with the line; it reads the line once, to count it (and to sort it, calling).
    """

    def __init__(self, pool: asyncpg.Pool, turns: Turns | None = None) -> None:
        self.pool = pool
        self.turns = turns or Turns(COUNTERS)

    def runner(self, code: str) -> Op:
        async def run(op: str, n: int) -> bool:
            if op == "join":
                await self.join(code, self.turns.phone())
            else:
                await self.call_next(code, self.turns.counter(code))
            return True

        return run

    async def join(self, code: str, phone: str) -> None:
        """Lock the queue; count the line (the new ticket's place and the size sample); take
        the day's next number; insert the ticket, its audit row and its "joined" message;
        add to the hour's figures."""
        async with self.pool.acquire() as conn, conn.transaction():
            now = datetime.now(UTC)
            queue = await conn.fetchrow(SQL_LOCK, code)
            size = await conn.fetchrow(SQL_SIZE, queue["id"], LIVE)
            today = now.date()
            seq = queue["day_seq"] + 1 if queue["day_seq_date"] == today else 1
            position = size["waiting"] + 1
            ticket_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
            number = f"{queue['prefix']}-{seq:03d}"
            await conn.execute(SQL_SEQ, queue["id"], seq, today)
            await conn.execute(
                SQL_TICKET,
                ticket_id,
                queue["id"],
                number,
                seq,
                secrets.token_urlsafe(16),
                now,
                phone,
            )
            data = json.dumps({"number": number, "position": position, "priority": 0})
            await conn.execute(
                SQL_EVENT,
                event_id,
                ticket_id,
                code,
                "ticket_joined",
                None,
                "waiting",
                None,
                position,
                None,
                "staff:bench",
                now,
                data,
                0,
            )
            await self._message(conn, event_id, ticket_id, phone, "joined", data, False, now)
            hour = now.replace(minute=0, second=0, microsecond=0)
            await conn.execute(SQL_METRIC, queue["id"], hour, 1, 0, 0.0, size["live"] + 1)

    async def call_next(self, code: str, counter: str) -> None:
        """Lock the queue; read the head of the line; call the first (its row, audit row and
        "called" message); a "close" message and its audit row for each patient who reaches a
        notify position; add to the hour's figures."""
        async with self.pool.acquire() as conn, conn.transaction():
            now = datetime.now(UTC)
            queue = await conn.fetchrow(SQL_LOCK, code)
            head = await conn.fetch(SQL_HEAD, queue["id"], max(NOTIFY_POSITIONS) + 1)
            if not head:
                raise QueueEmpty(code)
            first = head[0]
            event_id = str(uuid.uuid4())
            await conn.execute(SQL_CALL, first["id"], counter, now)
            data = json.dumps({"counter": counter})
            await conn.execute(
                SQL_EVENT,
                event_id,
                first["id"],
                code,
                "ticket_called",
                "waiting",
                "called",
                None,
                None,
                counter,
                "staff:bench",
                now,
                data,
                0,
            )
            await self._message(
                conn, event_id, first["id"], first["phone"], "called", data, True, now
            )
            for seq, position in enumerate(sorted(NOTIFY_POSITIONS), start=1):
                if position >= len(head) or head[position]["phone"] is None:
                    continue
                close, close_id = head[position], str(uuid.uuid4())
                close_data = json.dumps({"position": position})
                await conn.execute(
                    SQL_EVENT,
                    close_id,
                    close["id"],
                    code,
                    "position_changed",
                    None,
                    None,
                    position + 1,
                    position,
                    None,
                    "staff:bench",
                    now,
                    close_data,
                    seq,
                )
                await self._message(
                    conn, close_id, close["id"], close["phone"], "close", close_data, False, now
                )
            wait_s = (now - first["joined_at"]).total_seconds()
            hour = now.replace(minute=0, second=0, microsecond=0)
            await conn.execute(SQL_METRIC, queue["id"], hour, 0, 1, wait_s, first["waiting"] - 1)

    @staticmethod
    async def _message(
        conn: asyncpg.Connection,
        event_id: str,
        ticket_id: str,
        phone: str,
        kind: str,
        data: str,
        urgent: bool,
        now: datetime,
    ) -> None:
        await conn.execute(
            SQL_OUTBOX,
            str(uuid.uuid4()),
            f"{event_id}:sms:{phone}",
            ticket_id,
            event_id,
            phone,
            kind,
            data,
            urgent,
            now,
        )


# -- the database and the server --------------------------------------------------------------


def database_urls(base: str, name: str) -> tuple[str, str]:
    """(maintenance URL, bench URL) on the server of `base`; refuses anything not local."""
    parts = urlsplit(base)
    if parts.hostname not in LOCAL_HOSTS:
        raise SystemExit(f"bench: refusing a database on {parts.hostname!r}; only 127.0.0.1")
    current = parts.path.lstrip("/")
    if name in (current, "postgres") or name.startswith("template"):
        raise SystemExit(f"bench: refusing to use (and drop) the database {name!r}")
    return (
        urlunsplit(parts._replace(path="/postgres")),
        urlunsplit(parts._replace(path=f"/{name}")),
    )


async def recreate_database(admin_url: str, name: str, drop_only: bool = False) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def prepare_database(url: str) -> str:
    """Migrates the bench database; returns an admin API token."""
    from core.services import accounts
    from core.storage import db

    await db.migrate(url)
    await db.connect(url)
    try:
        await accounts.create_account("bench", "admin", secrets.token_urlsafe(16))
        return await accounts.issue_token("bench")
    finally:
        await db.disconnect()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the bench dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_server(url: str, redis_url: str | None, log_path: Path, profile: Path | None) -> Server:
    port = free_port()
    nextup = ROOT / ".venv" / "bin" / "nextup"
    command = [str(nextup if nextup.exists() else shutil.which("nextup") or "nextup")]
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTUP_")}
    env |= {
        "NEXTUP_DATABASE_URL": url,
        "NEXTUP_HOST": "127.0.0.1",
        "NEXTUP_PORT": str(port),
        "NEXTUP_SECRET_KEY": secrets.token_urlsafe(32),
        "PYTHONUNBUFFERED": "1",
    }
    if redis_url:
        env["NEXTUP_REDIS_URL"] = redis_url
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    return Server(process, f"http://127.0.0.1:{port}", log_path)


async def wait_healthy(server: Server, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server did not answer /healthz in {timeout_s:.0f} s")


async def seed(run: Op, count: int) -> None:
    for n in range(count):
        if not await run("join", n):
            raise RuntimeError("seeding the queue failed")


async def seed_line(api: ApiClient, url: str, code: str, count: int) -> None:
    """`count` waiting tickets on an empty queue, in about the same time whatever the count.

    The first joins through the API; the others are copies of the rows the app wrote for it
    (its ticket and its "joined" audit row, every column as the app stored it), each with
    an id, token, number and phone of its own and the next place in line, and the queue's
    day sequence is moved past them. (800 joins through the API would cost what the bench
    measures, 800 times over.) The copies have no "joined" message in the outbox.
    """
    response = await api.join(code)
    api.check("join", response)
    ticket_id = response.json()["id"]
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            queue = await conn.fetchrow(
                "SELECT id, prefix FROM queues WHERE code = $1 FOR UPDATE", code
            )
            ticket = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)
            joined = await conn.fetchrow(
                "SELECT * FROM ticket_events WHERE ticket_id = $1 AND type = 'ticket_joined'",
                ticket_id,
            )
            copies = [
                copy_of_joined(ticket, joined, queue["prefix"], api.turns.phone(), place)
                for place in range(2, count + 1)
            ]
            await conn.copy_records_to_table(
                "tickets", records=[t for t, _ in copies], columns=list(ticket.keys())
            )
            if joined is not None:
                await conn.copy_records_to_table(
                    "ticket_events", records=[e for _, e in copies], columns=list(joined.keys())
                )
            await conn.execute(
                "UPDATE queues SET day_seq = day_seq + $2 WHERE id = $1", queue["id"], count - 1
            )
    finally:
        await conn.close()


PLACE_COLUMNS = ("position", "told_position")
"""Where a ticket row keeps a place in line: `position` while the place is stored, then
`told_position`, the place its patient was last told (on joining, the place they joined
at). Whichever the table has is set for each copy."""


def copy_of_joined(
    ticket: asyncpg.Record, joined: asyncpg.Record | None, prefix: str, phone: str, place: int
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The rows of the ticket at `place` of a line whose first ticket is `ticket`, joined a
    microsecond after the one before it; its audit row when the first one has one."""
    seq = ticket["seq"] + place - 1
    at, number = ticket["joined_at"] + timedelta(microseconds=place - 1), format_number(prefix, seq)
    row = dict(ticket) | {
        "id": str(uuid.uuid4()),
        "token": secrets.token_urlsafe(16),
        "seq": seq,
        "number": number,
        "joined_at": at,
        "line_at": at,
        "phone": phone,
    }
    for column in PLACE_COLUMNS:
        if column in row:
            row[column] = place
    if joined is None:
        return tuple(row.values()), ()
    data = json.loads(joined["data"]) | {"number": number}
    if "position" in data:
        data["position"] = place
    event = dict(joined) | {
        "id": str(uuid.uuid4()),
        "ticket_id": row["id"],
        "at": at,
        "data": json.dumps(data),
    }
    if event.get("new_position") is not None:
        event["new_position"] = place
    return tuple(row.values()), tuple(event.values())


# -- the run ----------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used by the server processes, this client and the bench database's
    backends."""

    def __init__(self, admin_url: str, database: str, server_pids: Sequence[int] = ()) -> None:
        self.admin_url, self.database, self.server_pids = admin_url, database, server_pids
        self.tick = os.sysconf("SC_CLK_TCK")

    def proc_cpu(self, pid: int) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    async def snapshot(self) -> dict[str, Any]:
        conn = await asyncpg.connect(self.admin_url)
        try:
            pids = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
            )
        finally:
            await conn.close()
        return {
            "servers": {pid: self.proc_cpu(pid) for pid in self.server_pids},
            "client": time.process_time(),
            "postgres": {r["pid"]: self.proc_cpu(r["pid"]) for r in pids},
            "machine": self.machine_cpu(),
        }

    def machine_cpu(self) -> float:
        """CPU seconds the whole machine has been busy since boot, all CPUs and processes:
        on a shared machine, what the others took during a phase is worth printing."""
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
        return (user + nice + system + irq + softirq + steal) / self.tick

    def nothing(self) -> dict[str, Any]:
        """A snapshot of no CPU used: what `add` adds to."""
        return {
            "servers": dict.fromkeys(self.server_pids, 0.0),
            "client": 0.0,
            "postgres": {},
            "machine": 0.0,
        }

    @staticmethod
    def add(total: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> None:
        """Adds what was used between two snapshots to `total` (made by `nothing`)."""
        for key in ("servers", "postgres"):
            for pid, seconds in after[key].items():
                total[key][pid] = total[key].get(pid, 0.0) + seconds - before[key].get(pid, 0.0)
        for key in ("client", "machine"):
            total[key] += after[key] - before[key]

    @staticmethod
    def used(
        before: dict[str, Any], after: dict[str, Any], ops: int, wall: float
    ) -> dict[str, Any]:
        """CPU ms per successful operation and share of one CPU: `server` is all the server
        processes together, `servers` each of them."""
        pg = sum(v - before["postgres"].get(pid, 0.0) for pid, v in after["postgres"].items())
        by_server = {pid: v - before["servers"][pid] for pid, v in after["servers"].items()}
        spent = {
            "server": sum(by_server.values()),
            "client": after["client"] - before["client"],
            "postgres": pg,
        }
        spent["others"] = after["machine"] - before["machine"] - sum(spent.values())

        def per_op(seconds: float) -> float:
            return round(seconds * 1000 / max(ops, 1), 2)

        def share(seconds: float) -> float:
            return round(seconds / max(wall, 1e-9), 2)

        return (
            {f"{k}_ms_per_op": per_op(v) for k, v in spent.items()}
            | {f"{k}_cpu_share": share(v) for k, v in spent.items()}
            | {
                "servers": [
                    {"pid": pid, "ms_per_op": per_op(v), "cpu_share": share(v)}
                    for pid, v in by_server.items()
                ]
            }
        )


async def leaked_connections(admin_url: str, database: str) -> int:
    """Connections left idle inside a transaction once every request has been answered."""
    await asyncio.sleep(1.0)
    conn = await asyncpg.connect(admin_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
            " AND state = 'idle in transaction' AND now() - state_change > interval '1 second'",
            database,
        )
        return count
    finally:
        await conn.close()


@dataclass
class Run:
    args: argparse.Namespace
    admin_url: str
    url: str
    token: str = ""
    log_path: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    server: Server | None = None
    api: ApiClient | None = None
    restarts: int = 0
    turns: Turns = field(default_factory=lambda: Turns(COUNTERS))
    statuses: dict[str, int] = field(default_factory=dict)

    async def start_server(self) -> ApiClient:
        await self.stop_server()
        self.server = start_server(self.url, self.args.redis, self.log_path, self.args.profile)
        await wait_healthy(self.server)
        connections = max(self.args.max_in_flight, self.args.clients)
        self.api = ApiClient(
            self.server.base_url, self.token, connections, self.turns, self.statuses
        )
        return self.api

    async def restart_if_leaked(self, summary: dict[str, Any]) -> ApiClient:
        """A fresh server when the phase left a connection idle in a transaction (see
        README), so the next phase does not wait on its locks."""
        assert self.api is not None
        if not summary["leaked_connections"]:
            return self.api
        say("the server leaked database connections; restarting it for the next phase")
        self.restarts += 1
        return await self.start_server()

    async def stop_server(self) -> None:
        if self.api is not None:
            await self.api.close()
            self.api = None
        if self.server is not None:
            self.server.stop()

    async def measure(self, label: str, load: Callable[[], Awaitable[Recorder]]) -> dict[str, Any]:
        pids = [self.server.process.pid] if self.server and label != "sql" else []
        meter = CpuMeter(self.admin_url, self.args.database, pids)
        before = await meter.snapshot()
        finishing = asyncio.create_task(finish_called_forever(self.url))
        try:
            rec = await load()
        finally:
            finishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finishing
        after = await meter.snapshot()
        summary = rec.summary()
        ok = summary["all"]["count"]
        summary["cpu"] = meter.used(before, after, ok, summary["elapsed_s"])
        summary["leaked_connections"] = await leaked_connections(self.admin_url, self.args.database)
        return summary


FINISH_EVERY_S = 0.5


async def finish_called_forever(url: str) -> None:
    """The counters finishing their patients, outside the measured operations.

    Without it the called tickets pile up (nobody completes them in a join/call-next mix),
    and every command reads an ever longer list of live tickets, which no real day does.
    """
    conn = await asyncpg.connect(url)
    try:
        while True:
            await asyncio.sleep(FINISH_EVERY_S)
            await conn.execute(
                "UPDATE tickets SET status = 'done', finished_at = now(), version = version + 1"
                " WHERE status = 'called'"
            )
    finally:
        await conn.close()


LINE_BLOCKS = 4
"""The line-length phase measures each line in this many blocks, taking the lines in turn."""


async def line_lengths_phase(run: Run, lengths: dict[str, int]) -> tuple[dict[str, Any], ApiClient]:
    """Each queue of `lengths` seeded with its number of waiting, then joins and call-nexts
    one at a time; the figures by length, and the client of the server now running.

    The lines are measured in turn, a block of pairs each, not one after the other: what
    the server does besides (its first rounds of housekeeping, a burst of notifications
    being sent) then falls on every line alike rather than on whichever was measured at
    the time, which made the ratio of two medians swing by half from one run to the next."""
    assert run.api is not None and run.server is not None
    api = run.api
    for code, waiting in lengths.items():
        await seed_line(api, run.url, code, waiting)
        await one_at_a_time(api.runner(code), WAITING_WARMUP_PAIRS)
    pairs = run.args.waiting_pairs
    say(f"line lengths: {', '.join(map(str, lengths.values()))} waiting, {pairs} joins and")
    say(f"  call-nexts each, in {LINE_BLOCKS} blocks taken in turn")
    meter = CpuMeter(run.admin_url, run.args.database, [run.server.process.pid])
    recorders = {code: Recorder() for code in lengths}
    spent = {code: meter.nothing() for code in lengths}
    finishing = asyncio.create_task(finish_called_forever(run.url))
    try:
        for block in range(LINE_BLOCKS):
            for code in lengths:
                block_pairs = pairs // LINE_BLOCKS + (block < pairs % LINE_BLOCKS)
                before = await meter.snapshot()
                await one_at_a_time(api.runner(code), block_pairs, recorders[code])
                CpuMeter.add(spent[code], before, await meter.snapshot())
    finally:
        finishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await finishing
    figures_by_length = {}
    for code, waiting in lengths.items():
        summary = recorders[code].summary()
        ok = summary["all"]["count"]
        summary["cpu"] = CpuMeter.used(meter.nothing(), spent[code], ok, summary["elapsed_s"])
        figures_by_length[str(waiting)] = summary
    summary["leaked_connections"] = await leaked_connections(run.admin_url, run.args.database)
    return figures_by_length, await run.restart_if_leaked(summary)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    base = os.environ.get("NEXTUP_BENCH_DATABASE_URL") or DEFAULT_URL
    admin_url, url = database_urls(base, args.database)
    run = Run(args, admin_url, url)
    run.log_path = Path(tempfile.gettempdir()) / f"nextup-bench-server-{os.getpid()}.log"
    pool: asyncpg.Pool | None = None
    await recreate_database(admin_url, args.database)
    try:
        run.token = await prepare_database(url)
        api = await run.start_server()
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "settings": {
                "waiting": args.waiting,
                "waiting_pairs": args.waiting_pairs,
                "rate": args.rate,
                "duration_s": args.duration,
                "closed_duration_s": args.closed_duration,
                "clients": args.clients,
                "max_in_flight": args.max_in_flight,
                "seed_waiting": SEED,
                "counters": len(COUNTERS),
                "bus": "redis" if args.redis else "in-process",
                "cpus": os.cpu_count(),
                "load_average_before": os.getloadavg()[0],
            },
        }
        lines = {f"BENCHLINE{waiting}": waiting for waiting in args.waiting}
        codes = ["BENCHWARM", *lines, "BENCHOPEN", "BENCHCLOSED", "BENCHSQLWARM", "BENCHSQL"]
        for code in codes:
            await api.create_queue(code)

        # Warm up the server (imports, pools, caches) on a queue of its own.
        warm = api.runner("BENCHWARM")
        await seed_line(api, url, "BENCHWARM", SEED)
        await closed_loop(warm, args.clients, 1.0)

        if args.waiting:
            result["waiting"], api = await line_lengths_phase(run, lines)

        say(f"open loop: {args.rate:g} req/s for {args.duration:g} s")
        load = api.runner("BENCHOPEN")
        await seed_line(api, url, "BENCHOPEN", SEED)
        result["open_loop"] = await run.measure(
            "api", partial(open_loop, load, args.rate, args.duration, args.max_in_flight)
        )
        api = await run.restart_if_leaked(result["open_loop"])

        say(f"closed loop: {args.clients} clients for {args.closed_duration:g} s")
        load = api.runner("BENCHCLOSED")
        await seed_line(api, url, "BENCHCLOSED", SEED)
        result["api_closed"] = await run.measure(
            "api", partial(closed_loop, load, args.clients, args.closed_duration)
        )
        result["http_statuses"] = run.statuses
        result["server_restarts"] = run.restarts
        await run.stop_server()
        if args.profile:
            print_profile(args.profile)

        say(f"bare SQL: {args.clients} clients for {args.closed_duration:g} s")
        pool = await asyncpg.create_pool(url, min_size=args.clients, max_size=args.clients)
        sql = BareSql(pool, run.turns)
        floor = sql.runner("BENCHSQLWARM")
        await seed(floor, SEED)
        await closed_loop(floor, args.clients, 1.0)
        floor = sql.runner("BENCHSQL")
        await seed(floor, SEED)
        result["sql_closed"] = await run.measure(
            "sql", partial(closed_loop, floor, args.clients, args.closed_duration)
        )
        result["verdict"] = verdict(result, args.rate)
        return result
    finally:
        if pool is not None:
            await pool.close()
        await run.stop_server()
        server = run.server
        if server is not None and (
            server.process.returncode not in (0, -signal.SIGINT) or args.verbose
        ):
            print(f"server log ({run.log_path}):\n{server.log_tail()}", file=sys.stderr)
        with contextlib.suppress(OSError):
            run.log_path.unlink()
        if not args.keep_database:
            await recreate_database(admin_url, args.database, drop_only=True)


def verdict(result: dict[str, Any], rate: float) -> dict[str, Any]:
    opened = result["open_loop"]["all"]
    achieved = opened["ops_per_s"]
    latency_ok = (
        opened["p99_ms"] < P99_TARGET_MS and opened["errors"] == 0 and achieved >= 0.95 * rate
    )
    ratios = {}
    for op in OPS:
        api, sql = result["api_closed"]["ops"][op], result["sql_closed"]["ops"][op]
        ratios[op] = {
            "p50_api_over_sql": round(api["p50_ms"] / sql["p50_ms"], 2),
            "ops_sql_over_api": round(sql["ops_per_s"] / max(api["ops_per_s"], 1e-9), 2),
        }
    within = all(v <= RATIO_TARGET for r in ratios.values() for v in r.values())
    cpu = {k: result[k]["cpu"]["server_ms_per_op"] for k in ("open_loop", "api_closed")}
    return {
        "p99_under_50ms_at_rate": latency_ok,
        "api_within_2x_of_sql": within,
        "ratios": ratios,
        "server_cpu_ms_per_op": cpu,
        "server_cpu_within_3ms": all(v <= CPU_TARGET_MS for v in cpu.values()),
    } | line_verdict(result.get("waiting", {}))


def line_verdict(waiting: dict[str, Any]) -> dict[str, Any]:
    """The medians with the longest line over those with the shortest, per operation."""
    if len(waiting) < 2:
        return {}
    lengths = sorted(waiting, key=int)
    short, long = waiting[lengths[0]], waiting[lengths[-1]]
    growth = {op: round(long["ops"][op]["p50_ms"] / short["ops"][op]["p50_ms"], 2) for op in OPS}
    errors = sum(phase["all"]["errors"] for phase in waiting.values())
    cpu = long["cpu"]["server_ms_per_op"] / max(short["cpu"]["server_ms_per_op"], 1e-9)
    return {
        "line_growth": {
            "from": int(lengths[0]),
            "to": int(lengths[-1]),
            "p50_ratio": growth,
            "server_cpu_ratio": round(cpu, 2),
        },
        "line_within_1_5x": errors == 0 and all(g <= WAITING_TARGET for g in growth.values()),
    }


# -- output -----------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def busy_machine_warning(
    settings: dict[str, Any], competitor: str = "this one", measures: str = "latencies"
) -> list[str]:
    """A line for the report when the machine was already busy before the run began."""
    load, cpus = settings["load_average_before"], settings["cpus"]
    if load <= 0.5 * (cpus or 1):
        return []
    return [
        f"WARNING: load average {load:.1f} on {cpus} CPUs before the run: other processes "
        f"compete with {competitor}, so the {measures} are pessimistic"
    ]


def waiting_report(result: dict[str, Any]) -> list[str]:
    """The line-length phase: medians and server CPU per operation at each length."""
    waiting, s = result.get("waiting"), result["settings"]
    if not waiting:
        return []
    lines = [
        f"Line length: one request at a time, a join then a call-next, {s['waiting_pairs']} "
        "of each, on a queue holding each number of waiting tickets",
        f"{'waiting':>8} {'join p50':>10} {'join p90':>10} {'call p50':>10} {'call p90':>10} "
        f"{'server CPU/op':>14} {'PG CPU/op':>10} {'others':>7} {'errors':>7}",
    ]
    for length, phase in sorted(waiting.items(), key=lambda item: int(item[0])):
        join, call, cpu = phase["ops"]["join"], phase["ops"]["call_next"], phase["cpu"]
        lines.append(
            f"{length:>8} {join['p50_ms']:>8.2f}ms {join['p90_ms']:>8.2f}ms "
            f"{call['p50_ms']:>8.2f}ms {call['p90_ms']:>8.2f}ms "
            f"{cpu['server_ms_per_op']:>12.2f}ms {cpu['postgres_ms_per_op']:>8.2f}ms "
            f"{cpu['others_cpu_share']:>7.2f} {phase['all']['errors']:>7}"
        )
        if phase["error_kinds"]:
            lines.append(f"{'':>8} errors by kind: {phase['error_kinds']}")
    return [*lines, ""]


def report(result: dict[str, Any]) -> str:
    s = result["settings"]
    api, sql, v = result["api_closed"], result["sql_closed"], result["verdict"]
    lines = [
        *waiting_report(result),
        f"NextUp API vs bare SQL on PostgreSQL  ({s['clients']} concurrent clients, "
        f"{s['closed_duration_s']:g} s each; one queue, {s['seed_waiting']} waiting at start, "
        f"{s['counters']} counters; bus {s['bus']}; {s['cpus']} CPUs)",
        "",
        f"{'operation':<10} {'API ops/s':>10} {'API p50':>9} {'API p99':>9} "
        f"{'SQL ops/s':>10} {'SQL p50':>9} {'SQL p99':>9} {'p50 API/SQL':>12} "
        f"{'ops/s SQL/API':>14}",
    ]
    for op in OPS:
        a, q, r = api["ops"][op], sql["ops"][op], v["ratios"][op]
        lines.append(
            f"{op:<10} {a['ops_per_s']:>10.1f} {a['p50_ms']:>7.2f}ms {a['p99_ms']:>7.2f}ms "
            f"{q['ops_per_s']:>10.1f} {q['p50_ms']:>7.2f}ms {q['p99_ms']:>7.2f}ms "
            f"{r['p50_api_over_sql']:>11.2f}x {r['ops_sql_over_api']:>13.2f}x"
        )
    lines.append(f"{'errors':<10} {api['all']['errors']:>10} {'':>19} {sql['all']['errors']:>10}")
    for name, phase in (("API", api), ("SQL", sql)):
        if phase["error_kinds"]:
            lines.append(f"{name} errors by kind: {phase['error_kinds']}")
    o = result["open_loop"]
    lines += [
        "",
        f"Open loop: {s['rate']:g} req/s target for {s['duration_s']:g} s "
        f"(latency from the scheduled send time; at most {s['max_in_flight']} in flight)",
        f"{'operation':<10} {'sent ok':>8} {'ok/s':>8} {'p50':>9} {'p90':>9} {'p99':>9} "
        f"{'max':>9} {'errors':>7}",
    ]
    for name, f in [*((op, o["ops"][op]) for op in OPS), ("all", o["all"])]:
        lines.append(
            f"{name:<10} {f['count']:>8} {f['ops_per_s']:>8.1f} {f['p50_ms']:>7.2f}ms "
            f"{f['p90_ms']:>7.2f}ms {f['p99_ms']:>7.2f}ms {f['max_ms']:>7.2f}ms {f['errors']:>7}"
        )
    if o["error_kinds"]:
        lines.append(f"errors by kind: {o['error_kinds']}")
    lines += [
        "",
        "CPU per successful operation, ms (and share of one CPU over the phase; other "
        "processes: their share alone)",
        f"{'phase':<12} {'server':>15} {'PostgreSQL':>15} {'bench client':>15} "
        f"{'other processes':>16}",
    ]
    phases = (("open loop", "open_loop"), ("API closed", "api_closed"), ("bare SQL", "sql_closed"))
    for name, key in phases:
        c = result[key]["cpu"]
        cells = [
            f"{c[f'{k}_ms_per_op']:>7.2f} ({c[f'{k}_cpu_share']:.2f})"
            for k in ("server", "postgres", "client")
        ]
        cells.append(f"({c['others_cpu_share']:.2f})")
        lines.append(f"{name:<12} " + " ".join(f"{cell:>15}" for cell in cells))
    leaked = {k: result[k]["leaked_connections"] for k in ("open_loop", "api_closed")}
    if any(leaked.values()) or result.get("server_restarts"):
        lines.append(
            f"WARNING: the server left connections idle in a transaction: {leaked}; "
            f"server restarts: {result.get('server_restarts', 0)}"
        )
    lines += busy_machine_warning(s, competitor="the server")
    lines += ["", *line_verdict_lines(v)]
    lines += [
        f"[{'PASS' if v['p99_under_50ms_at_rate'] else 'FAIL'}] p99 < {P99_TARGET_MS:g} ms at "
        f"{s['rate']:g} req/s (all requests ok, >= 95% of the rate achieved): "
        f"p99 {o['all']['p99_ms']:.2f} ms at {o['all']['ops_per_s']:.1f} ok/s",
        f"[{'PASS' if v['api_within_2x_of_sql'] else 'FAIL'}] API within {RATIO_TARGET:g}x of "
        f"the bare-SQL floor at {s['clients']} clients (p50 API/SQL and ops/s SQL/API, both "
        "operations): "
        + ", ".join(
            f"{op} {r['p50_api_over_sql']:.2f}x / {r['ops_sql_over_api']:.2f}x"
            for op, r in v["ratios"].items()
        ),
        f"[{'PASS' if v['server_cpu_within_3ms'] else 'FAIL'}] server CPU per command <= "
        f"{CPU_TARGET_MS:g} ms: open loop {v['server_cpu_ms_per_op']['open_loop']:.2f} ms, "
        f"closed loop {v['server_cpu_ms_per_op']['api_closed']:.2f} ms",
    ]
    return "\n".join(lines)


def line_verdict_lines(v: dict[str, Any]) -> list[str]:
    if "line_growth" not in v:
        return []
    g = v["line_growth"]
    return [
        f"[{'PASS' if v['line_within_1_5x'] else 'FAIL'}] {g['to']} waiting within "
        f"{WAITING_TARGET:g}x of {g['from']} waiting (medians, one request at a time, no "
        f"errors): join {g['p50_ratio']['join']:.2f}x, call-next "
        f"{g['p50_ratio']['call_next']:.2f}x (server CPU per request "
        f"{g['server_cpu_ratio']:.2f}x)"
    ]


def print_profile(path: Path) -> None:
    import pstats

    for _ in range(50):
        if path.exists():
            break
        time.sleep(0.1)
    if not path.exists():
        say(f"no profile written to {path}")
        return
    stats = pstats.Stats(str(path), stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def line_lengths(text: str) -> list[int]:
    lengths = [int(part) for part in text.split(",") if part.strip()]
    if any(n < 1 for n in lengths):
        raise argparse.ArgumentTypeError("line lengths are at least 1")
    return lengths


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--waiting",
        type=line_lengths,
        default="10,800",
        help="line lengths for the one-at-a-time phase, comma-separated ('' skips it)",
    )
    parser.add_argument(
        "--waiting-pairs", type=int, default=40, help="joins and call-nexts at each length"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    parser.add_argument("--duration", type=float, default=10.0, help="open-loop seconds")
    parser.add_argument("--clients", type=int, default=16, help="closed-loop concurrency")
    parser.add_argument("--closed-duration", type=float, default=5.0, help="closed-loop seconds")
    parser.add_argument("--max-in-flight", type=int, default=64, help="open-loop cap")
    parser.add_argument("--database", default="nextup_bench", help="created and dropped")
    parser.add_argument("--redis", metavar="URL", help="e.g. redis://127.0.0.1:6379/14")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, to PATH")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument("--verbose", action="store_true", help="print the server log")
    parser.add_argument("--json", type=Path, default=RESULTS / "api-latest.json")
    args = parser.parse_args(argv)
    if args.redis and urlsplit(args.redis).hostname not in LOCAL_HOSTS:
        parser.error("--redis must be on 127.0.0.1")
    return args


async def until_sigterm(work: Awaitable[T]) -> T:
    """SIGTERM (a killed `make`) cancels the run, so what it set up (a server, a database)
    is cleaned up on the way out."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await work


def run_bench(
    work: Coroutine[Any, Any, dict[str, Any]],
    report: Callable[[dict[str, Any]], str],
    path_for: Callable[[dict[str, Any]], Path],
    stopped: str = "stopped; the bench database is gone",
) -> int:
    """Runs a benchmark to its end (or SIGTERM), prints its report and writes its figures."""
    try:
        result = asyncio.run(until_sigterm(work))
    except (asyncio.CancelledError, KeyboardInterrupt):
        say(stopped)
        return 130
    print(report(result))
    path = path_for(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfigures written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(
        bench(args),
        report,
        lambda _: args.json,
        stopped="stopped; the server and the bench database are gone",
    )


if __name__ == "__main__":
    sys.exit(main())
