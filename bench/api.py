"""Benchmark: joins and call-nexts through the HTTP API on PostgreSQL, against bare SQL.

Run by `make bench`, or directly:

    NEXTUP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/api.py [--rate 200] [--duration 10] [--clients 16]

The database named in NEXTUP_BENCH_DATABASE_URL is never touched: the URL only says which
server and credentials to use. The bench creates its own database on that server
(`nextup_bench`, see --database) through the `postgres` maintenance database, migrates it,
and drops it at the end, also after an error. Only 127.0.0.1 is ever contacted.

Phases, each on a fresh queue that starts with SEED waiting tickets:

1. open loop: requests sent at a fixed rate (alternating join / call-next), latency measured
   from each request's scheduled send time, so a slow server is not hidden by a slow client
   (no coordinated omission);
2. closed loop: --clients concurrent clients, each alternating join / call-next as fast as
   it can, for joins/s and call-nexts/s;
3. bare SQL: the same operations as hand-written SQL, one transaction each, with asyncpg and
   the same number of concurrent clients: the floor any implementation has to pay.

The server is the real `nextup serve` in its own process. Results are printed and written
to bench/results/api-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SEED = 30
COUNTERS = [str(n) for n in range(1, 129)]
"""One patient per counter: a call-next at a counter whose patient is still called is
refused (409 counter_busy). The call-nexts go round these counters, and the finisher below
completes the called patients every FINISH_EVERY_S, so a counter is free again long before
its turn comes round (128 counters at 100 call-nexts/s: 1.3 s)."""
P99_TARGET_MS = 50.0
RATIO_TARGET = 3.0
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
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPS, 0))
    error_kinds: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

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
        for op in OPS:
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


async def open_loop(run: Op, rate: float, duration: float, max_in_flight: int) -> Recorder:
    """Sends at `rate` per second whatever the server does; latency counts from the schedule.

    At most `max_in_flight` requests are on the wire; the others wait their turn in the client,
    and that wait counts. A request still unsent SEND_GRACE_S after the last scheduled send is
    counted as an error (`not_sent`), and the run waits at most REQUEST_TIMEOUT_S more for the
    ones in flight, so a server that falls behind makes the run fail, not last forever.
    """
    loop = asyncio.get_running_loop()
    rec = Recorder()
    gate = asyncio.Semaphore(max_in_flight)
    total = int(rate * duration)
    rec.started = loop.time() + 0.01
    send_deadline = rec.started + duration + SEND_GRACE_S

    async def fire(n: int, scheduled: float) -> None:
        op = op_for(n)
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


async def attempt(run: Op, op: str, n: int) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            return await run(op, n), ""
    except Exception as exc:  # a failed request is an error figure, not the end of the run
        return False, type(exc).__name__


# -- the API ----------------------------------------------------------------------------------


def join_body(n: int) -> dict[str, Any]:
    """A walk-in with a phone number, so joining and calling also write outbox rows."""
    return {"phone": f"+1555{n % 10_000_000:07d}"}


class ApiClient:
    def __init__(self, base_url: str, token: str, connections: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self.statuses: dict[str, int] = {}

    async def close(self) -> None:
        await self.http.aclose()

    async def create_queue(self, code: str) -> None:
        body = {"code": code, "name": f"Bench {code}", "prefix": "B", "counters": COUNTERS}
        response = await self.http.post("/api/v1/queues", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"creating queue {code}: {response.status_code} {response.text}")

    def runner(self, code: str) -> Op:
        async def run(op: str, n: int) -> bool:
            if op == "join":
                response = await self.http.post(f"/api/v1/queues/{code}/tickets", json=join_body(n))
            else:
                counter = COUNTERS[n // 2 % len(COUNTERS)]
                response = await self.http.post(
                    f"/api/v1/queues/{code}/call-next", json={"counter": counter}
                )
            key = f"{op} {response.status_code}"
            self.statuses[key] = self.statuses.get(key, 0) + 1
            if not response.is_success:
                raise HttpError(f"HTTP {response.status_code}")
            return True

        return run


class HttpError(Exception):
    pass


# -- bare SQL ---------------------------------------------------------------------------------

LIVE = ["waiting", "called", "serving"]
NOTIFY_POSITIONS = [3, 1]

SQL_LOCK = "SELECT id, prefix, day_seq, day_seq_date FROM queues WHERE code = $1 FOR UPDATE"
SQL_LIVE = (
    "SELECT id, status, priority, position, joined_at, line_at, appointment_at, counter"
    " FROM tickets WHERE queue_id = $1 AND status = ANY($2::varchar[])"
)
SQL_SEQ = "UPDATE queues SET day_seq = $2, day_seq_date = $3 WHERE id = $1"
SQL_TICKET = """
INSERT INTO tickets (id, queue_id, number, seq, token, status, priority, joined_at, line_at,
                     position, recall_count, phone, version, late_count, leave_now_sent)
VALUES ($1, $2, $3, $4, $5, 'waiting', 0, $6, $6, $7, 0, $8, 0, 0, false)
"""
SQL_EVENT = """
INSERT INTO ticket_events (id, ticket_id, queue_code, type, from_status, to_status,
                           old_position, new_position, counter, actor, at, data, seq)
VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $11::jsonb, 0)
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
SQL_FIRST = (
    "SELECT id, joined_at, phone FROM tickets WHERE queue_id = $1 AND status = 'waiting'"
    " ORDER BY position LIMIT 1"
)
SQL_CALL = (
    "UPDATE tickets SET status = 'called', counter = $2, called_at = $3, position = NULL,"
    " version = version + 1 WHERE id = $1"
)
# The app writes an audit row per ticket that moved up, and a "close" message to those that
# reach a notify position; one statement does both here.
SQL_MOVE_UP = """
WITH moved AS (
    UPDATE tickets SET position = position - 1
    WHERE queue_id = $1 AND status = 'waiting'
    RETURNING id, position, phone
), audit AS (
    INSERT INTO ticket_events (id, ticket_id, queue_code, type, old_position, new_position,
                               actor, at, data, seq)
    SELECT gen_random_uuid()::text, id, $2, 'position_changed', position + 1, position, $3, $4,
           '{}'::jsonb, row_number() OVER (ORDER BY position)
    FROM moved
    RETURNING id, ticket_id, new_position
), close AS (
    INSERT INTO outbox (id, idempotency_key, ticket_id, event_id, channel, recipient, kind,
                        payload, urgent, status, attempts, next_attempt_at, created_at)
    SELECT gen_random_uuid()::text, audit.id || ':sms:' || moved.phone, moved.id, audit.id,
           'sms', moved.phone, 'close', jsonb_build_object('position', moved.position),
           false, 'queued', 0, $4, $4
    FROM audit JOIN moved ON moved.id = audit.ticket_id
    WHERE moved.phone IS NOT NULL AND moved.position = ANY($5::int[])
)
SELECT count(*) FROM moved
"""


class QueueEmpty(Exception):
    pass


class BareSql:
    """The floor: what a join and a call-next must write, in one transaction each."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def runner(self, code: str) -> Op:
        async def run(op: str, n: int) -> bool:
            if op == "join":
                await self.join(code, n)
            else:
                await self.call_next(code, COUNTERS[n // 2 % len(COUNTERS)])
            return True

        return run

    async def join(self, code: str, n: int) -> None:
        phone = join_body(n)["phone"]
        async with self.pool.acquire() as conn, conn.transaction():
            now = datetime.now(UTC)
            queue = await conn.fetchrow(SQL_LOCK, code)
            live = await conn.fetch(SQL_LIVE, queue["id"], LIVE)
            today = now.date()
            seq = queue["day_seq"] + 1 if queue["day_seq_date"] == today else 1
            position = sum(1 for t in live if t["status"] == "waiting") + 1
            ticket_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
            number = f"{queue['prefix']}{seq:03d}"
            await conn.execute(SQL_SEQ, queue["id"], seq, today)
            await conn.execute(
                SQL_TICKET,
                ticket_id,
                queue["id"],
                number,
                seq,
                secrets.token_urlsafe(16),
                now,
                position,
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
                position,
                None,
                "staff:bench",
                now,
                data,
            )
            await conn.execute(
                SQL_OUTBOX,
                str(uuid.uuid4()),
                f"{event_id}:sms:{phone}",
                ticket_id,
                event_id,
                phone,
                "joined",
                data,
                False,
                now,
            )
            hour = now.replace(minute=0, second=0, microsecond=0)
            await conn.execute(SQL_METRIC, queue["id"], hour, 1, 0, 0.0, position)

    async def call_next(self, code: str, counter: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            now = datetime.now(UTC)
            queue = await conn.fetchrow(SQL_LOCK, code)
            first = await conn.fetchrow(SQL_FIRST, queue["id"])
            if first is None:
                raise QueueEmpty(code)
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
                counter,
                "staff:bench",
                now,
                data,
            )
            await conn.execute(
                SQL_OUTBOX,
                str(uuid.uuid4()),
                f"{event_id}:sms:{first['phone']}",
                first["id"],
                event_id,
                first["phone"],
                "called",
                data,
                True,
                now,
            )
            size = await conn.fetchval(
                SQL_MOVE_UP, queue["id"], code, "staff:bench", now, NOTIFY_POSITIONS
            )
            wait_s = (now - first["joined_at"]).total_seconds()
            hour = now.replace(minute=0, second=0, microsecond=0)
            await conn.execute(SQL_METRIC, queue["id"], hour, 0, 1, wait_s, size)


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


# -- the run ----------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used by the server process, this client and the bench database's backends."""

    def __init__(self, admin_url: str, database: str, server_pid: int | None) -> None:
        self.admin_url, self.database, self.server_pid = admin_url, database, server_pid
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
            "server": self.proc_cpu(self.server_pid) if self.server_pid else 0.0,
            "client": time.process_time(),
            "postgres": {r["pid"]: self.proc_cpu(r["pid"]) for r in pids},
        }

    @staticmethod
    def used(
        before: dict[str, Any], after: dict[str, Any], ops: int, wall: float
    ) -> dict[str, float]:
        pg = sum(v - before["postgres"].get(pid, 0.0) for pid, v in after["postgres"].items())
        spent = {
            "server": after["server"] - before["server"],
            "client": after["client"] - before["client"],
            "postgres": pg,
        }
        per_op = {f"{k}_ms_per_op": round(v * 1000 / max(ops, 1), 2) for k, v in spent.items()}
        busy = {f"{k}_cpu_share": round(v / max(wall, 1e-9), 2) for k, v in spent.items()}
        return per_op | busy


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

    async def start_server(self) -> ApiClient:
        await self.stop_server()
        self.server = start_server(self.url, self.args.redis, self.log_path, self.args.profile)
        await wait_healthy(self.server)
        connections = max(self.args.max_in_flight, self.args.clients)
        self.api = ApiClient(self.server.base_url, self.token, connections)
        return self.api

    async def stop_server(self) -> None:
        if self.api is not None:
            await self.api.close()
            self.api = None
        if self.server is not None:
            self.server.stop()

    async def measure(self, label: str, load: Callable[[], Awaitable[Recorder]]) -> dict[str, Any]:
        pid = self.server.process.pid if self.server and label != "sql" else None
        meter = CpuMeter(self.admin_url, self.args.database, pid)
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
        for code in ("BENCHWARM", "BENCHOPEN", "BENCHCLOSED", "BENCHSQLWARM", "BENCHSQL"):
            await api.create_queue(code)

        # Warm up the server (imports, pools, caches) on a queue of its own.
        warm = api.runner("BENCHWARM")
        await seed(warm, SEED)
        await closed_loop(warm, args.clients, 1.0)

        say(f"open loop: {args.rate:g} req/s for {args.duration:g} s")
        load = api.runner("BENCHOPEN")
        await seed(load, SEED)
        result["open_loop"] = await run.measure(
            "api", lambda: open_loop(load, args.rate, args.duration, args.max_in_flight)
        )
        if result["open_loop"]["leaked_connections"]:
            say("the server leaked database connections; restarting it for the next phase")
            api = await run.start_server()
            run.restarts += 1

        say(f"closed loop: {args.clients} clients for {args.closed_duration:g} s")
        load = api.runner("BENCHCLOSED")
        await seed(load, SEED)
        result["api_closed"] = await run.measure(
            "api", lambda: closed_loop(load, args.clients, args.closed_duration)
        )
        result["http_statuses"] = api.statuses
        result["server_restarts"] = run.restarts
        await run.stop_server()
        if args.profile:
            print_profile(args.profile)

        say(f"bare SQL: {args.clients} clients for {args.closed_duration:g} s")
        pool = await asyncpg.create_pool(url, min_size=args.clients, max_size=args.clients)
        sql = BareSql(pool)
        floor = sql.runner("BENCHSQLWARM")
        await seed(floor, SEED)
        await closed_loop(floor, args.clients, 1.0)
        floor = sql.runner("BENCHSQL")
        await seed(floor, SEED)
        result["sql_closed"] = await run.measure(
            "sql", lambda: closed_loop(floor, args.clients, args.closed_duration)
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
    return {
        "p99_under_50ms_at_rate": latency_ok,
        "api_within_3x_of_sql": within,
        "ratios": ratios,
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


def report(result: dict[str, Any]) -> str:
    s = result["settings"]
    api, sql, v = result["api_closed"], result["sql_closed"], result["verdict"]
    lines = [
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
        "CPU per successful operation, ms (and share of one CPU over the phase)",
        f"{'phase':<12} {'server':>15} {'PostgreSQL':>15} {'bench client':>15}",
    ]
    phases = (("open loop", "open_loop"), ("API closed", "api_closed"), ("bare SQL", "sql_closed"))
    for name, key in phases:
        c = result[key]["cpu"]
        cells = [
            f"{c[f'{k}_ms_per_op']:>7.2f} ({c[f'{k}_cpu_share']:.2f})"
            for k in ("server", "postgres", "client")
        ]
        lines.append(f"{name:<12} " + " ".join(f"{cell:>15}" for cell in cells))
    leaked = {k: result[k]["leaked_connections"] for k in ("open_loop", "api_closed")}
    if any(leaked.values()) or result.get("server_restarts"):
        lines.append(
            f"WARNING: the server left connections idle in a transaction: {leaked}; "
            f"server restarts: {result.get('server_restarts', 0)}"
        )
    lines += busy_machine_warning(s, competitor="the server")
    lines += [
        "",
        f"[{'PASS' if v['p99_under_50ms_at_rate'] else 'FAIL'}] p99 < {P99_TARGET_MS:g} ms at "
        f"{s['rate']:g} req/s (all requests ok, >= 95% of the rate achieved): "
        f"p99 {o['all']['p99_ms']:.2f} ms at {o['all']['ops_per_s']:.1f} ok/s",
        f"[{'PASS' if v['api_within_3x_of_sql'] else 'FAIL'}] API within {RATIO_TARGET:g}x of "
        "the bare-SQL floor (p50 API/SQL and ops/s SQL/API, both operations): "
        + ", ".join(
            f"{op} {r['p50_api_over_sql']:.2f}x / {r['ops_sql_over_api']:.2f}x"
            for op, r in v["ratios"].items()
        ),
    ]
    return "\n".join(lines)


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
