"""Benchmark: an open-loop mix of joins, call-nexts and status reads over many queues, on
PostgreSQL and Redis with two `nextup serve` processes.

Run by `make bench`, or directly:

    NEXTUP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/mix.py [--rate 200] [--duration 15] [--queues 20]

As for bench/api.py, the URL only names the PostgreSQL server and credentials: the bench
creates its own database (`nextup_bench_mix`, --database), migrates it and drops it at the
end, also after an error, Ctrl-C or SIGTERM. Only 127.0.0.1 is contacted, for PostgreSQL
and Redis.

Two real `nextup serve` processes on ports of their own share the database and the Redis
bus, as a deployment with two web processes does; the client sends request n to server
n mod 2. Latency is measured from each request's scheduled send time (no coordinated
omission). Targets: p99 under 50 ms at 200 requests/s, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import signal
import sys
import tempfile
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.api

from bench.api import (  # noqa: E402
    DEFAULT_URL,
    LOCAL_HOSTS,
    REQUEST_TIMEOUT_S,
    ApiClient,
    CpuMeter,
    Op,
    Recorder,
    Server,
    Turns,
    busy_machine_warning,
    database_urls,
    finish_called_forever,
    leaked_connections,
    open_loop,
    prepare_database,
    recreate_database,
    run_bench,
    say,
    seed_line,
    start_server,
    wait_healthy,
)

RESULTS = ROOT / "bench" / "results"
OPS = ("join", "call_next", "status", "ticket")
PATTERN = (
    "join",
    "status",
    "ticket",
    "call_next",
    "status",
    "ticket",
    "join",
    "ticket",
    "call_next",
    "status",
)
"""Request n is PATTERN[n mod 10]: 20 % joins, 20 % call-nexts, 30 % queue status reads, 30 %
patient ticket reads. As many joins as calls keep every line near its starting length."""
COUNTERS = [str(n) for n in range(1, 9)]
"""Each queue's call-nexts go round its 8 counters: at 200 requests/s over 20 queues a
counter is called to every 4 s, long after the finisher (every 0.5 s) has completed its
patient, so no call is refused as counter_busy."""
P99_TARGET_MS = 50.0
TOKENS_EVERY_S = 1.0


@dataclass
class Tokens:
    """Patients' ticket tokens by queue, for the public ticket reads: the tokens of the
    tickets waiting or called, read from the database again every TOKENS_EVERY_S, as
    patients with their page open come and go."""

    url: str
    by_queue: dict[str, list[str]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(16))

    async def refresh(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "SELECT q.code, t.token FROM tickets t JOIN queues q ON q.id = t.queue_id"
            " WHERE t.status IN ('waiting', 'called')"
        )
        by_queue: dict[str, list[str]] = {}
        for row in rows:
            by_queue.setdefault(row["code"], []).append(row["token"])
        # A queue with nobody waiting or called keeps its earlier tokens: a finished
        # patient's page still reads its ticket.
        self.by_queue |= by_queue

    async def refresh_forever(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            while True:
                await self.refresh(conn)
                await asyncio.sleep(TOKENS_EVERY_S)
        finally:
            await conn.close()

    def pick(self, code: str) -> str:
        return self.rng.choice(self.by_queue[code])


@dataclass
class Mix:
    """The two servers' clients (staff with a token; patients without) and the queues."""

    staff: list[ApiClient]
    patients: list[httpx.AsyncClient]
    codes: list[str]
    tokens: Tokens
    _turns: dict[str, itertools.count[int]] = field(
        default_factory=lambda: {op: itertools.count() for op in OPS}
    )

    def runner(self) -> Op:
        """Request n goes to server n mod 2; each operation goes round the queues."""

        async def run(op: str, n: int) -> bool:
            staff = self.staff[n % len(self.staff)]
            code = self.codes[next(self._turns[op]) % len(self.codes)]
            if op == "join":
                response = await staff.join(code)
            elif op == "call_next":
                response = await staff.call_next(code)
            elif op == "status":
                response = await staff.http.get(f"/api/v1/queues/{code}/status")
            else:
                patient = self.patients[n % len(self.patients)]
                response = await patient.get(f"/api/v1/public/tickets/{self.tokens.pick(code)}")
            return staff.check(op, response)

        return run

    async def close(self) -> None:
        for staff in self.staff:
            await staff.close()
        for patient in self.patients:
            await patient.aclose()


def pick(n: int) -> str:
    return PATTERN[n % len(PATTERN)]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    base = os.environ.get("NEXTUP_BENCH_DATABASE_URL") or DEFAULT_URL
    admin_url, url = database_urls(base, args.database)
    logs = [
        Path(tempfile.gettempdir()) / f"nextup-bench-mix-{os.getpid()}-{i}.log"
        for i in range(args.servers)
    ]
    servers: list[Server] = []
    mix: Mix | None = None
    failed = False
    await recreate_database(admin_url, args.database)
    try:
        token = await prepare_database(url)
        for log in logs:
            servers.append(start_server(url, args.redis, log, None))
        for server in servers:
            await wait_healthy(server)
        turns, statuses = Turns(COUNTERS), dict[str, int]()
        mix = Mix(
            staff=[
                ApiClient(s.base_url, token, args.max_in_flight, turns, statuses) for s in servers
            ],
            patients=[
                httpx.AsyncClient(base_url=s.base_url, timeout=REQUEST_TIMEOUT_S) for s in servers
            ],
            codes=[f"MIX{i:02d}" for i in range(1, args.queues + 1)],
            tokens=Tokens(url),
        )
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "settings": {
                "rate": args.rate,
                "duration_s": args.duration,
                "queues": args.queues,
                "waiting": args.waiting,
                "counters": len(COUNTERS),
                "servers": args.servers,
                "max_in_flight": args.max_in_flight,
                "pattern": PATTERN,
                "cpus": os.cpu_count(),
                "load_average_before": os.getloadavg()[0],
            },
        }
        say(f"{args.queues} queues, {args.waiting} waiting in each")
        for code in mix.codes:
            await mix.staff[0].create_queue(code)
            await seed_line(mix.staff[0], url, code, args.waiting)
        conn = await asyncpg.connect(url)
        try:
            await mix.tokens.refresh(conn)
        finally:
            await conn.close()
        load = partial(open_loop, mix.runner(), args.rate, pick=pick, ops=OPS)
        say(f"warm-up: {args.rate:g} req/s for 1 s")
        await alongside(load(1.0, args.max_in_flight), url, mix.tokens)
        say(f"mix: {args.rate:g} req/s for {args.duration:g} s over {args.servers} servers")
        statuses.clear()  # the answers of the measured run alone
        meter = CpuMeter(admin_url, args.database, [s.process.pid for s in servers])
        before = await meter.snapshot()
        rec = await alongside(load(args.duration, args.max_in_flight), url, mix.tokens)
        after = await meter.snapshot()
        summary = rec.summary()
        summary["cpu"] = meter.used(before, after, summary["all"]["count"], summary["elapsed_s"])
        summary["leaked_connections"] = await leaked_connections(admin_url, args.database)
        result |= {
            "mix": summary,
            "http_statuses": statuses,
            "server_ports": [urlsplit(s.base_url).port for s in servers],
            "verdict": verdict(summary, args.rate),
        }
        return result
    except Exception:
        failed = True  # the servers' logs may say why
        raise
    finally:
        if mix is not None:
            await mix.close()
        for server in servers:
            server.stop()
        for server in servers:
            if failed or server.process.returncode not in (0, -signal.SIGINT) or args.verbose:
                print(f"server log ({server.log_path}):\n{server.log_tail()}", file=sys.stderr)
        for log in logs:
            with contextlib.suppress(OSError):
                log.unlink()
        if not args.keep_database:
            await recreate_database(admin_url, args.database, drop_only=True)


async def alongside(load: Awaitable[Recorder], url: str, tokens: Tokens) -> Recorder:
    """Runs `load` with the counters finishing their patients and the tokens kept fresh."""
    helpers = [
        asyncio.create_task(finish_called_forever(url)),
        asyncio.create_task(tokens.refresh_forever()),
    ]
    try:
        return await load
    finally:
        for task in helpers:
            task.cancel()
        for task in helpers:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def verdict(summary: dict[str, Any], rate: float) -> dict[str, Any]:
    everything = summary["all"]
    return {
        "p99_under_50ms_no_errors": everything["p99_ms"] < P99_TARGET_MS
        and everything["errors"] == 0
        and everything["ops_per_s"] >= 0.95 * rate
    }


def report(result: dict[str, Any]) -> str:
    s, m = result["settings"], result["mix"]
    lines = [
        f"NextUp mix on PostgreSQL + Redis: {s['servers']} `nextup serve` processes (ports "
        f"{', '.join(map(str, result['server_ports']))}), {s['queues']} queues with "
        f"{s['waiting']} waiting at the start and {s['counters']} counters each; {s['cpus']} CPUs",
        f"{s['rate']:g} req/s for {s['duration_s']:g} s, 20 % joins, 20 % call-nexts, 30 % queue "
        f"status, 30 % patient ticket reads (latency from the scheduled send time; at most "
        f"{s['max_in_flight']} in flight)",
        "",
        f"{'operation':<10} {'sent ok':>8} {'ok/s':>8} {'p50':>9} {'p90':>9} {'p99':>9} "
        f"{'max':>9} {'errors':>7}",
    ]
    for name, f in [*((op, m["ops"][op]) for op in OPS), ("all", m["all"])]:
        lines.append(
            f"{name:<10} {f['count']:>8} {f['ops_per_s']:>8.1f} {f['p50_ms']:>7.2f}ms "
            f"{f['p90_ms']:>7.2f}ms {f['p99_ms']:>7.2f}ms {f['max_ms']:>7.2f}ms {f['errors']:>7}"
        )
    lines.append(f"errors by kind: {m['error_kinds'] or 'none'}")
    lines.append(f"answers: {dict(sorted(result['http_statuses'].items()))}")
    c = m["cpu"]
    lines += [
        "",
        "CPU per successful request, ms (and share of one CPU over the run)",
        f"  servers      {c['server_ms_per_op']:>6.2f} ({c['server_cpu_share']:.2f}: "
        + ", ".join(
            f":{port} {proc['cpu_share']:.2f}"
            for port, proc in zip(result["server_ports"], c["servers"], strict=True)
        )
        + ")",
        f"  PostgreSQL   {c['postgres_ms_per_op']:>6.2f} ({c['postgres_cpu_share']:.2f})",
        f"  bench client {c['client_ms_per_op']:>6.2f} ({c['client_cpu_share']:.2f})",
        f"  other processes on the machine: {c['others_cpu_share']:.2f} of a CPU",
    ]
    if m["leaked_connections"]:
        lines.append(f"WARNING: {m['leaked_connections']} connections left idle in a transaction")
    lines += busy_machine_warning(s, competitor="the servers")
    ok = result["verdict"]["p99_under_50ms_no_errors"]
    lines += [
        "",
        f"[{'PASS' if ok else 'FAIL'}] p99 < {P99_TARGET_MS:g} ms at {s['rate']:g} req/s, no "
        f"errors, >= 95% of the rate: p99 {m['all']['p99_ms']:.2f} ms, "
        f"{m['all']['errors']} errors, {m['all']['ops_per_s']:.1f} ok/s",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--waiting", type=int, default=30, help="waiting in each queue at start")
    parser.add_argument("--servers", type=int, default=2, help="`nextup serve` processes")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", metavar="URL")
    parser.add_argument("--database", default="nextup_bench_mix", help="created and dropped")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument("--verbose", action="store_true", help="print the servers' logs")
    parser.add_argument("--json", type=Path, default=RESULTS / "mix-latest.json")
    args = parser.parse_args(argv)
    if urlsplit(args.redis).hostname not in LOCAL_HOSTS:
        parser.error("--redis must be on 127.0.0.1")
    if args.waiting < 1 or args.queues < 1 or args.servers < 1:
        parser.error("--waiting, --queues and --servers are at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(
        bench(args),
        report,
        lambda _: args.json,
        stopped="stopped; the servers and the bench database are gone",
    )


if __name__ == "__main__":
    sys.exit(main())
