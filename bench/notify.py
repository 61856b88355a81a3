"""Benchmark: Telegram notifications under load, through the Bot API emulator with
Telegram's limits switched on.

    .venv/bin/python bench/notify.py [--patients 2000] [--queues 20] [--calls 100]
    NEXTUP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/notify.py [--redis redis://127.0.0.1:6379/12]

The database: a fresh SQLite file in a temporary directory, unless a PostgreSQL server is
named (--database-url, else NEXTUP_BENCH_DATABASE_URL). As in bench/api.py, that URL only
says which server and credentials to use: the bench creates its own database there
(`bench_notify`, see --database) through the `postgres` maintenance database, migrates it,
and drops it at the end, also after an error. Only 127.0.0.1 is ever contacted.

What runs, in this process: the Telegram emulator (30 messages/s per bot, 1 s per chat,
answering 429 beyond), the real notification dispatcher with the real aiogram sender
pointed at it, and the queue service.

1. load: --patients patients join --queues queues (one Telegram chat each), one
   concurrent joiner per queue; every join writes a routine "joined" message. The
   dispatcher runs from the start and works through the backlog at its rate limit.
2. calls under load: while that backlog drains, a call-next every --call-interval s on a
   random queue and counter (--calls in all); each writes an urgent "called" message. Its
   latency is from the moment `call_next` returned (the transaction committed) to the
   moment the emulator received the sendMessage request for it.
3. the run waits until no notification is queued or being sent, then reports.

Besides the rate and the "called" latency it counts the messages superseded (queued, then
no longer true when their turn came: not sent) and the stale ones: messages a called
patient received after their "called", decided before it and not about the call
("you are next" after "it's your turn"). The target is 0 stale.

With --processes N (N > 1) the sends come from N `nextup worker` processes instead of a
dispatcher in the bench's process, all on the one database (PostgreSQL) and, with --redis,
sharing the provider limits through Redis: the figure that shows whether N processes keep
to one bot's limit together. The workers log to bench/results/notify-worker-<n>.log.

Results are printed and written to bench/results/notify-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.api and tests.emulators

from bench.api import (  # noqa: E402
    LOCAL_HOSTS,
    T,
    busy_machine_warning,
    database_urls,
    percentile,
    recreate_database,
    run_bench,
    say,
)
from core.bus.redis import RedisBus  # noqa: E402
from core.delivery.dispatcher import Dispatcher  # noqa: E402
from core.delivery.limits import bot_id_of, telegram_limits  # noqa: E402
from core.domain.errors import QueueEmpty  # noqa: E402
from core.domain.model import QueueConfig  # noqa: E402
from core.services.queues import new_join_request  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.storage import outbox as outbox_store  # noqa: E402
from core.storage.models import OutboxMessage  # noqa: E402
from nextup.wiring import Container, build_container  # noqa: E402
from tests.emulators.telegram import TelegramEmulator  # noqa: E402
from tests.processes import NEXTUP, clean_env  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TELEGRAM_PER_S = 30
"""Telegram's limit per bot, which the emulator enforces (and the targets refer to)."""
TELEGRAM_CHAT_INTERVAL_S = 1.0
RATE_TARGET = 0.95
P99_TARGET_MS = 1000.0
ABOUT_THE_CALL = ("called", "recalled")
COUNTERS = ("1", "2")
FIRST_CHAT_ID = 10_000
BENCH_CHANNEL = "nextup:bench-notify:events"
"""A Redis pub/sub channel of the bench's own: channels are not scoped by Redis database
number, so on the default channel every other nextup process on that server would see the
bench's events."""
UNFINISHED = ("queued", "sending")
SAMPLE_EVERY_S = 0.02


# -- figures ----------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, Any]:
    """count, p50/p90/p99/max of seconds, in ms."""
    ordered = sorted(values)

    def ms(v: float) -> float:
        return round(v * 1000, 1)

    return {
        "count": len(ordered),
        "p50_ms": ms(percentile(ordered, 50)),
        "p90_ms": ms(percentile(ordered, 90)),
        "p99_ms": ms(percentile(ordered, 99)),
        "max_ms": ms(ordered[-1]) if ordered else float("nan"),
    }


def most_in_window(times: list[float], width_s: float) -> int:
    """The most events in any window [t, t + width_s) of an ascending list."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width_s:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class Call:
    queue: str
    counter: str
    ticket_id: str
    chat_id: int
    started: float
    committed: float


@dataclass
class Sampler:
    """Every SAMPLE_EVERY_S: how late the event loop woke, and how full the Telegram lane was."""

    lane_sizes: list[tuple[float, int]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)

    async def run(self, dispatcher: Dispatcher) -> None:
        lane = dispatcher.lanes["telegram"]
        while True:
            before = time.monotonic()
            await asyncio.sleep(SAMPLE_EVERY_S)
            now = time.monotonic()
            self.lags.append(now - before - SAMPLE_EVERY_S)
            self.lane_sizes.append((now, len(lane.pending)))


@dataclass
class GcPauses:
    """How long each full (generation 2) garbage collection held the process."""

    pauses: list[float] = field(default_factory=list)
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)


@dataclass
class StoreTimer:
    """Times the dispatcher's outbox calls (claims and results), by wrapping them in
    `core.storage.outbox` for the run; the dispatcher's code is untouched."""

    durations: dict[str, list[float]] = field(default_factory=dict)
    rows: dict[str, list[int]] = field(default_factory=dict)
    _originals: dict[str, Any] = field(default_factory=dict)

    def install(self) -> None:
        for name in ("claim", "mark_sent"):
            original = getattr(outbox_store, name)
            self._originals[name] = original
            setattr(outbox_store, name, self._timed(name, original))

    def uninstall(self) -> None:
        for name, original in self._originals.items():
            setattr(outbox_store, name, original)

    def _timed(self, name: str, original: Any) -> Any:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            if name == "claim" and args[2] <= 0:
                return await original(*args, **kwargs)  # no room: no query, not timed
            label = f"{name}_urgent" if kwargs.get("urgent_only") else name
            began = time.perf_counter()
            result = await original(*args, **kwargs)
            self.durations.setdefault(label, []).append(time.perf_counter() - began)
            if isinstance(result, list):
                self.rows.setdefault(label, []).append(len(result))
            return result

        return timed

    def summary(self) -> dict[str, Any]:
        out = {}
        for label, values in sorted(self.durations.items()):
            out[label] = spread(values)
            if label in self.rows:
                counts = self.rows[label]
                out[label] |= {"rows": sum(counts), "empty": sum(n == 0 for n in counts)}
        return out


# -- the database -----------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    kind: str
    admin_url: str | None = None
    name: str | None = None
    tmpdir: Path | None = None

    async def create(self) -> None:
        if self.admin_url and self.name:
            await recreate_database(self.admin_url, self.name)

    async def remove(self) -> None:
        if self.admin_url and self.name:
            await recreate_database(self.admin_url, self.name, drop_only=True)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def add_database_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """`--database-url`, `--database` and `--keep-database`, as `choose_database` reads them."""
    parser.add_argument(
        "--database-url",
        help="postgres://… (server and credentials only) or sqlite://… (a new file); default: "
        "NEXTUP_BENCH_DATABASE_URL, else a temporary SQLite file",
    )
    parser.add_argument("--database", default=name, help="PostgreSQL: created, dropped")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")


def choose_database(args: argparse.Namespace) -> Database:
    base = args.database_url or os.environ.get("NEXTUP_BENCH_DATABASE_URL") or ""
    if base.startswith(("postgres://", "postgresql://")):
        admin_url, url = database_urls(base, args.database)
        return Database(url, "postgresql", admin_url, args.database)
    if base.startswith("sqlite://"):
        path = Path(base.removeprefix("sqlite://"))
        if path.exists():
            raise SystemExit(f"bench: {path} exists; the bench needs an empty database")
        return Database(base, "sqlite")
    if base:
        raise SystemExit(f"bench: not a sqlite:// or postgres:// URL: {base!r}")
    tmpdir = Path(tempfile.mkdtemp(prefix="nextup-bench-notify-"))
    return Database(f"sqlite://{tmpdir / 'bench.sqlite3'}", "sqlite", tmpdir=tmpdir)


async def on_database(args: argparse.Namespace, work: Callable[[Database], Awaitable[T]]) -> T:
    """Runs `work` on a database made for it, dropped after (unless `--keep-database`)."""
    db = choose_database(args)
    await db.create()
    try:
        return await work(db)
    finally:
        if args.keep_database:
            say(f"database kept: {db.url}")
        else:
            await db.remove()


# -- the load ---------------------------------------------------------------------------------


def queue_codes(count: int) -> list[str]:
    return [f"Q{n:02d}" for n in range(1, count + 1)]


def patients_per_queue(patients: int, queues: int) -> list[int]:
    return [patients // queues + (1 if n < patients % queues else 0) for n in range(queues)]


async def join_all(container: Container, codes: list[str], sizes: list[int]) -> int:
    """One joiner per queue, each joining its patients one after another."""
    first_chat = [FIRST_CHAT_ID + sum(sizes[:n]) for n in range(len(sizes))]

    async def joiner(code: str, first: int, count: int) -> None:
        for chat_id in range(first, first + count):
            request = new_join_request(telegram_chat_id=chat_id)
            await container.queues.join(code, request, "bench")

    await asyncio.gather(
        *(joiner(c, f, n) for c, f, n in zip(codes, first_chat, sizes, strict=True))
    )
    return sum(sizes)


async def call_patients(
    container: Container,
    waiting: dict[str, int],
    calls: int,
    interval_s: float,
    rng: random.Random,
) -> list[Call]:
    """A call-next every `interval_s` (on schedule, whatever a call took) on a random queue.

    The patient called at a counter arrives (starts) just before that counter's next call,
    as one patient per counter asks, and not at once: a patient at the counter needs no
    "called" message, which would then be superseded rather than sent and measured."""
    made: list[Call] = []
    at_counter: dict[tuple[str, str], str] = {}
    start = time.monotonic()
    for n in range(calls):
        await asyncio.sleep(max(0.0, start + n * interval_s - time.monotonic()))
        open_queues = [code for code, left in waiting.items() if left > 0]
        if not open_queues:
            say("every queue is empty; no more calls")
            break
        code, counter = rng.choice(open_queues), rng.choice(COUNTERS)
        arrived = at_counter.pop((code, counter), None)
        if arrived is not None:
            await container.queues.ticket_action(arrived, "start", "bench")
        started = time.monotonic()
        try:
            ticket = await container.queues.call_next(code, counter, "bench")
        except QueueEmpty:
            waiting[code] = 0
            continue
        committed = time.monotonic()
        at_counter[(code, counter)] = ticket.id
        waiting[code] -= 1
        assert ticket.telegram_chat_id is not None
        made.append(Call(code, counter, ticket.id, ticket.telegram_chat_id, started, committed))
    return made


async def wait_drained(timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await OutboxMessage.filter(status__in=UNFINISHED).count() == 0:
            return True
        await asyncio.sleep(0.5)
    return False


# -- the run ----------------------------------------------------------------------------------


def make_container(
    db: Database, emulator: TelegramEmulator, redis: str | None, processes: int = 1
) -> Container:
    settings = load_settings(
        database_url=db.url,
        redis_url=redis,
        telegram_token=emulator.token,
        telegram_api_base=emulator.base_url,
        env="development",
    )
    if redis and processes == 1:
        return Container(settings=settings, bus=RedisBus(redis, channel=BENCH_CHANNEL))
    return build_container(settings)  # workers hear the bench's events on the usual channel


def start_workers(
    count: int, db: Database, emulator: TelegramEmulator, redis: str | None
) -> list[subprocess.Popen[bytes]]:
    """`nextup worker` processes sending through the emulator (PYTHONPATH and the rest of
    the environment are passed on, so a checkout's code can be measured)."""
    settings = {
        "database_url": db.url,
        "telegram_token": emulator.token,
        "telegram_api_base": emulator.base_url,
        "env": "development",
    }
    if redis:
        settings["redis_url"] = redis
    RESULTS.mkdir(parents=True, exist_ok=True)
    workers = []
    for n in range(count):
        with (RESULTS / f"notify-worker-{n}.log").open("wb") as log:
            workers.append(
                subprocess.Popen(
                    [NEXTUP, "worker"], env=clean_env(**settings), stdout=log, stderr=log
                )
            )
    return workers


async def workers_ready(count: int, timeout_s: float = 120.0) -> None:
    """Until every worker says its dispatcher runs (importing aiogram takes seconds)."""
    deadline = time.monotonic() + timeout_s
    logs = [RESULTS / f"notify-worker-{n}.log" for n in range(count)]
    while not all(b"NextUp running: dispatcher" in log.read_bytes() for log in logs):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not start; see {logs[0].parent}")
        await asyncio.sleep(0.2)
    say(f"{count} workers running")


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    codes = queue_codes(args.queues)
    sizes = patients_per_queue(args.patients, args.queues)

    async def work(db: Database) -> dict[str, Any]:
        token = f"{rng.randrange(10**8, 10**9)}:BENCH-notify"
        async with TelegramEmulator(token=token) as emulator:
            emulator.enforce_limits(TELEGRAM_PER_S, TELEGRAM_CHAT_INTERVAL_S)
            container = make_container(db, emulator, args.redis, args.processes)
            await container.start(migrate=True)
            # Migrating leaves a lot of cyclic garbage; collected later it stalls the event
            # loop for ~200 ms in the middle of the load, so collect it before.
            gc.collect()
            try:
                return await measure(args, db, emulator, container, codes, sizes, rng)
            finally:
                await container.stop()

    return await on_database(args, work)


async def measure(
    args: argparse.Namespace,
    db: Database,
    emulator: TelegramEmulator,
    container: Container,
    codes: list[str],
    sizes: list[int],
    rng: random.Random,
) -> dict[str, Any]:
    if await OutboxMessage.all().count():
        raise RuntimeError("the bench database is not empty")
    for code in codes:
        await container.queues.create_queue(code, f"Bench {code}", code, QueueConfig(), COUNTERS)

    dispatcher = container.notification_dispatcher()
    sampler = Sampler()
    load_before = os.getloadavg()[0]
    cpu_before, began = time.process_time(), time.monotonic()
    workers: list[subprocess.Popen[bytes]] = []
    if args.processes > 1:
        workers = start_workers(args.processes, db, emulator, args.redis)
        await workers_ready(len(workers))
        load_before = os.getloadavg()[0]
        cpu_before, began = time.process_time(), time.monotonic()
        running = asyncio.create_task(asyncio.Event().wait())  # no dispatcher here
    else:
        running = asyncio.create_task(dispatcher.run())
    sampling = asyncio.create_task(sampler.run(dispatcher))
    collections = GcPauses()
    gc.callbacks.append(collections)
    store_timer = StoreTimer()
    store_timer.install()
    try:
        say(f"joining {sum(sizes)} patients to {len(codes)} queues")
        joins_started = time.monotonic()
        joined = await join_all(container, codes, sizes)
        joins_done = time.monotonic()
        say(
            f"joined in {joins_done - joins_started:.1f} s; {len(emulator.sent)} messages sent so "
            f"far; calling {args.calls} patients, one every {args.call_interval:g} s"
        )
        calls = await call_patients(
            container, dict(zip(codes, sizes, strict=True)), args.calls, args.call_interval, rng
        )
        calls_done = time.monotonic()
        say(f"calls done; waiting for the outbox to drain (at most {args.drain_timeout:g} s)")
        drained = await wait_drained(args.drain_timeout)
        drain_done = time.monotonic()
    finally:
        gc.callbacks.remove(collections)
        for task in (sampling, running):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await dispatcher.close()
        store_timer.uninstall()
        stop_workers(workers)
    cpu_s = time.process_time() - cpu_before
    limits = telegram_limits(bot_id_of(emulator.token))
    rows = await OutboxMessage.all().order_by("created_at")
    timeline = {
        "joins_s": round(joins_done - joins_started, 2),
        "joins_per_s": round(joined / max(joins_done - joins_started, 1e-9), 1),
        "calls_s": round(calls_done - joins_done, 2),
        "until_drained_s": round(drain_done - began, 2),
        "drained": drained,
        "cpu_s": round(cpu_s, 1),
        "cpu_share": round(cpu_s / max(drain_done - began, 1e-9), 2),
    }
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "patients": joined,
            "queues": len(codes),
            "counters_per_queue": len(COUNTERS),
            "calls": args.calls,
            "call_interval_s": args.call_interval,
            "seed": args.seed,
            "database": db.kind,
            "bus": "redis" if args.redis else "in-process",
            "telegram_limit_per_s": TELEGRAM_PER_S,
            "telegram_chat_interval_s": TELEGRAM_CHAT_INTERVAL_S,
            "dispatcher_per_s": round(limits.per_second, 2),
            "dispatcher_chat_interval_s": limits.recipient_window_s,
            "sending_processes": args.processes,
            "cpus": os.cpu_count(),
            "load_average_before": round(load_before, 2),
        },
        "timeline": timeline,
    }
    marks = {"joins_done": joins_done, "calls_done": calls_done}
    result |= analyse(emulator, rows, calls, sampler, marks)
    result["outbox_calls"] = store_timer.summary()
    result["event_loop"]["full_gc"] = spread(collections.pauses) | {
        "objects_at_end": len(gc.get_objects())
    }
    result["verdict"] = verdict(result)
    return result


# -- analysis ---------------------------------------------------------------------------------


def phase_rates(times: list[float], marks: dict[str, float]) -> dict[str, float | None]:
    """msg/s while patients joined, while they were called, and after, until the last send."""
    if len(times) < 2:
        return {}
    edges = [times[0], marks["joins_done"], marks["calls_done"], times[-1]]
    rates: dict[str, float | None] = {}
    for name, start, end in zip(("joining", "calling", "after"), edges, edges[1:], strict=False):
        count = sum(start <= t < end for t in times)
        rates[name] = round(count / (end - start), 2) if end - start >= 1.0 else None
    return rates


def long_gaps(sent: list[Any]) -> list[dict[str, Any]]:
    """Pauses over 100 ms between sends: when (from the first send), and whether the message
    after one went to a chat still inside its per-chat interval."""
    if not sent:
        return []
    first = sent[0].at
    last_to: dict[int, float] = {}
    found = []
    for before, after in itertools.pairwise(sent):
        last_to[before.chat_id] = before.at
        if after.at - before.at > 0.1:
            previous = last_to.get(after.chat_id)
            found.append(
                {
                    "at_s": round(before.at - first, 2),
                    "gap_ms": round((after.at - before.at) * 1000, 1),
                    "next_chat_previous_ms": (
                        round((after.at - previous) * 1000, 1) if previous is not None else None
                    ),
                }
            )
    found.sort(key=lambda g: -g["gap_ms"])
    return found[:10]


def analyse(
    emulator: TelegramEmulator,
    rows: list[OutboxMessage],
    calls: list[Call],
    sampler: Sampler,
    marks: dict[str, float],
) -> dict[str, Any]:
    sent = sorted(emulator.sent, key=lambda m: m.at)
    times = [m.at for m in sent]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    gaps = [b - a for a, b in itertools.pairwise(times)]
    outcomes = Counter(r.outcome for r in emulator.requests if r.method.lower() == "sendmessage")
    throughput: dict[str, Any] = {
        "sent": len(sent),
        "drain_s": round(span, 2),
        "msg_per_s": round((len(sent) - 1) / span, 2) if span else float("nan"),
        "best_10s_msg_per_s": round(most_in_window(times, 10.0) / 10, 2) if span >= 10 else None,
        "most_in_any_1s": most_in_window(times, 1.0),
        "send_gap_ms": spread(gaps),
        "gaps_over_100ms": sum(g > 0.1 for g in gaps),
        "idle_in_gaps_over_100ms_s": round(sum(g for g in gaps if g > 0.1), 2),
        "long_gaps": long_gaps(sent),
        "marks_s": {k: round(v - times[0], 2) for k, v in marks.items()} if times else {},
        "too_many_requests": emulator.too_many_requests,
        "send_requests": dict(outcomes),
    }
    throughput["phase_msg_per_s"] = phase_rates(times, marks)
    throughput["percent_of_limit"] = round(100 * throughput["msg_per_s"] / TELEGRAM_PER_S, 1)

    statuses = Counter(r.status for r in rows)
    outbox = {
        "rows": len(rows),
        "by_kind": dict(Counter(r.kind for r in rows)),
        "by_status": dict(statuses),
        "failed": statuses.get("failed", 0),
        "superseded": statuses.get("superseded", 0),
        "attempted_more_than_once": sum(r.attempts > 1 for r in rows),
        "errors": dict(Counter(r.last_error for r in rows if r.last_error).most_common(5)),
    }

    # The drain window, for the dispatcher-side samples.
    in_drain = [(t, n) for t, n in sampler.lane_sizes if times and times[0] <= t <= times[-1]]
    lags = sorted(sampler.lags)
    loop = {
        "lag": spread(lags),
        "lane_empty_share_in_drain": (
            round(sum(n == 0 for _, n in in_drain) / len(in_drain), 3) if in_drain else None
        ),
    }
    return {"throughput": throughput, "outbox": outbox, "event_loop": loop} | {
        "called": analyse_calls(sent, rows, calls)
    }


def analyse_calls(sent: list[Any], rows: list[OutboxMessage], calls: list[Call]) -> dict[str, Any]:
    by_message = {(m.chat_id, m.message_id): m for m in sent}
    called_rows = {r.ticket_id: r for r in rows if r.kind == "called"}  # type: ignore[attr-defined]
    routine = [r for r in rows if not r.urgent]
    by_chat: dict[int, list[Any]] = {}
    for m in sent:
        by_chat.setdefault(m.chat_id, []).append(m)
    latencies: list[float] = []
    from_start: list[float] = []
    missing = 0
    behind_own_chat = 0
    overtaken: list[int] = []
    sent_between: list[int] = []
    stale_after: Counter[str] = Counter()
    stale = 0
    row_of_message = {
        (r.recipient, r.provider_message_id): r for r in rows if r.provider_message_id is not None
    }
    slow: list[dict[str, Any]] = []
    times = [m.at for m in sent]
    for call in calls:
        row = called_rows.get(call.ticket_id)
        message = None
        if row is not None and row.provider_message_id is not None:
            message = by_message.get((call.chat_id, int(row.provider_message_id)))
        if row is None or message is None:
            missing += 1
            continue
        latency = message.at - call.committed
        latencies.append(latency)
        from_start.append(message.at - call.started)
        # The same chat had a message within Telegram's per-chat interval before this one.
        before = [
            m.at
            for m in by_chat[call.chat_id]
            if m.at < message.at and message.at - m.at < telegram_limits("bench").recipient_window_s
        ]
        if before:
            behind_own_chat += 1
        # Sends to anybody between the commit and this one: what it waited behind.
        sent_between.append(sum(call.committed <= t < message.at for t in times))
        # Routine rows older than the call, sent after it: what it overtook.
        if row.sent_at is not None:
            overtaken.append(
                sum(
                    r.created_at <= row.created_at
                    and (r.sent_at is None or r.sent_at > row.sent_at)
                    for r in routine
                )
            )
        # Routine messages to this patient, written before the call, that arrived after it
        # ("you are next" after "it's your turn").
        stale_after.update(
            r.kind
            for r in routine
            if r.created_at <= row.created_at
            and r.recipient == str(call.chat_id)
            and r.sent_at is not None
            and row.sent_at is not None
            and r.sent_at > row.sent_at
        )
        # What the patient received after the call, decided before it, not about the call.
        for later in by_chat[call.chat_id]:
            about = row_of_message.get((str(call.chat_id), str(later.message_id)))
            if later.at > message.at and about is not None and about.kind not in ABOUT_THE_CALL:
                stale += decided_before(about, row)
        if latency > 0.5:
            slow.append(
                {
                    "queue": call.queue,
                    "chat_id": call.chat_id,
                    "latency_ms": round(latency * 1000, 1),
                    "same_chat_message_before_ms": (
                        round((message.at - before[-1]) * 1000, 1) if before else None
                    ),
                    "sends_between": sent_between[-1],
                }
            )
    overtaken.sort()
    sent_between.sort()
    return {
        "calls": len(calls),
        "measured": len(latencies),
        "missing": missing,
        "latency_from_commit": spread(latencies),
        "latency_from_call_start": spread(from_start),
        "behind_own_chat_interval": behind_own_chat,
        "sends_between_commit_and_called": {
            "p50": percentile([float(n) for n in sent_between], 50),
            "max": sent_between[-1] if sent_between else None,
        },
        "older_routine_overtaken": {
            "p50": percentile([float(n) for n in overtaken], 50),
            "min": overtaken[0] if overtaken else None,
            "max": overtaken[-1] if overtaken else None,
        },
        "older_routine_to_same_patient_sent_after": dict(stale_after),
        "stale": stale,
        "slowest": sorted(slow, key=lambda s: -s["latency_ms"])[:10],
    }


def decided_before(row: OutboxMessage, other: OutboxMessage) -> bool:
    """`row` was decided before `other` (by `seq` where the outbox has it; else by time)."""
    first, second = getattr(row, "seq", None), getattr(other, "seq", None)
    if first is not None and second is not None:
        return bool(first < second)
    return bool(row.created_at < other.created_at)


def verdict(result: dict[str, Any]) -> dict[str, bool]:
    t, c = result["throughput"], result["called"]
    return {
        "no_stale": c["stale"] == 0,
        "rate_at_least_95_percent": t["msg_per_s"] >= RATE_TARGET * TELEGRAM_PER_S,
        "no_429": t["too_many_requests"] == 0,
        "called_p99_under_1s": (
            c["measured"] > 0
            and c["missing"] == 0
            and c["latency_from_commit"]["p99_ms"] < P99_TARGET_MS
        ),
    }


# -- output -----------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> str:
    s, tl = result["settings"], result["timeline"]
    t, o, c, loop = result["throughput"], result["outbox"], result["called"], result["event_loop"]
    v = result["verdict"]
    lat, start = c["latency_from_commit"], c["latency_from_call_start"]
    gap = t["send_gap_ms"]

    def passed(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    lines = [
        f"NextUp notifications through the Telegram emulator ({s['patients']} patients, "
        f"{s['queues']} queues, {s['calls']} calls; {s['database']}, bus {s['bus']}; "
        f"{s['cpus']} CPUs; {s['sending_processes']} sending process"
        f"{'es' if s['sending_processes'] > 1 else ''})",
        f"limits: emulator {s['telegram_limit_per_s']}/s per bot and "
        f"{s['telegram_chat_interval_s']:g} s per chat; dispatcher {s['dispatcher_per_s']:g}/s "
        f"and {s['dispatcher_chat_interval_s']:g} s",
        "",
        f"joins           {s['patients']} in {tl['joins_s']:.1f} s ({tl['joins_per_s']:.1f}/s); "
        f"calls over {tl['calls_s']:.1f} s; drained {tl['drained']} after "
        f"{tl['until_drained_s']:.1f} s",
        f"outbox          {o['rows']} rows {o['by_kind']}; status {o['by_status']}",
        f"                failed {o['failed']}, superseded {o['superseded']}, attempted more "
        "than once "
        f"{o['attempted_more_than_once']}" + (f"; errors {o['errors']}" if o["errors"] else ""),
        f"sent            {t['sent']} messages over {t['drain_s']:.1f} s (first to last send)",
        f"rate            {t['msg_per_s']:.2f} msg/s = {t['percent_of_limit']:.1f}% of "
        f"{TELEGRAM_PER_S}/s; best 10 s window "
        + (f"{t['best_10s_msg_per_s']:.1f} msg/s" if t["best_10s_msg_per_s"] else "n/a")
        + f"; most in any 1 s: {t['most_in_any_1s']}",
        "                while joining / calling / after: "
        + " / ".join(f"{v:.2f}" if v is not None else "n/a" for v in t["phase_msg_per_s"].values())
        + " msg/s",
        f"send gaps       p50 {gap['p50_ms']:.1f} ms, p99 {gap['p99_ms']:.1f} ms, max "
        f"{gap['max_ms']:.1f} ms; {t['gaps_over_100ms']} gaps over 100 ms, "
        f"{t['idle_in_gaps_over_100ms_s']:.2f} s in them",
        f"429s provoked   {t['too_many_requests']}; sendMessage outcomes {t['send_requests']}",
        *(
            [f"long gaps       (s from the first send; {t['marks_s']})"]
            + [f"  {g}" for g in t["long_gaps"]]
            if t["long_gaps"]
            else []
        ),
        "",
        f"'called'        {c['measured']} measured of {c['calls']} calls"
        + (f" ({c['missing']} never sent)" if c["missing"] else ""),
        f"  from commit   p50 {lat['p50_ms']:.1f} ms, p90 {lat['p90_ms']:.1f} ms, "
        f"p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms",
        f"  from call     p50 {start['p50_ms']:.1f} ms, p90 {start['p90_ms']:.1f} ms, "
        f"p99 {start['p99_ms']:.1f} ms, max {start['max_ms']:.1f} ms (includes the transaction)",
        f"  {c['behind_own_chat_interval']} had a message to the same chat in the "
        f"{s['dispatcher_chat_interval_s']:g} s before them; sends to anyone between commit "
        f"and the 'called' send: p50 {c['sends_between_commit_and_called']['p50']:g}, max "
        f"{c['sends_between_commit_and_called']['max']}",
        f"  older routine messages overtaken per call: p50 "
        f"{c['older_routine_overtaken']['p50']:g}, min {c['older_routine_overtaken']['min']}, "
        f"max {c['older_routine_overtaken']['max']}",
        f"  routine messages written before a call but sent to that patient after its "
        f"'called' (by kind): {c['older_routine_to_same_patient_sent_after'] or 0}",
        f"  stale: messages a called patient received after their 'called', decided before "
        f"it and not about the call: {c['stale']}",
        "",
        f"event loop      lag p50 {loop['lag']['p50_ms']:.1f} ms, p99 {loop['lag']['p99_ms']:.1f} "
        f"ms, max {loop['lag']['max_ms']:.1f} ms; Telegram lane empty in "
        f"{100 * (loop['lane_empty_share_in_drain'] or 0):.1f}% of samples while draining; "
        f"CPU {tl['cpu_s']:.1f} s ({tl['cpu_share']:.2f} of one CPU)",
        f"full GCs        {loop['full_gc']['count']}, p50 {loop['full_gc']['p50_ms']:.1f} ms, "
        f"max {loop['full_gc']['max_ms']:.1f} ms ({loop['full_gc']['objects_at_end']} objects "
        "tracked at the end)",
    ]
    for label, f in result["outbox_calls"].items():
        lines.append(
            f"{label:<15} {f['count']} calls, p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, "
            f"max {f['max_ms']:.1f} ms"
            + (f"; {f['rows']} rows, {f['empty']} calls found none" if "rows" in f else "")
        )
    if c["slowest"]:
        lines.append("slowest 'called' (over 500 ms):")
        lines += [f"  {item}" for item in c["slowest"]]
    lines += busy_machine_warning(s)
    lines += [
        "",
        f"[{passed(v['rate_at_least_95_percent'])}] at least {RATE_TARGET:.0%} of "
        f"{TELEGRAM_PER_S}/s ({RATE_TARGET * TELEGRAM_PER_S:g} msg/s): {t['msg_per_s']:.2f} msg/s",
        f"[{passed(v['no_429'])}] no 429 provoked: {t['too_many_requests']}",
        f"[{passed(v['called_p99_under_1s'])}] 'called' p99 under {P99_TARGET_MS:g} ms from "
        f"commit to send request: {lat['p99_ms']:.1f} ms",
        f"[{passed(v['no_stale'])}] no stale message after a 'called': {c['stale']} "
        f"({o['superseded']} superseded instead)",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000, help="patients who join")
    parser.add_argument("--queues", type=int, default=20, help="queues they join, evenly")
    parser.add_argument("--calls", type=int, default=100, help="call-nexts while draining")
    parser.add_argument("--call-interval", type=float, default=0.5, help="seconds between calls")
    add_database_arguments(parser, "bench_notify")
    parser.add_argument(
        "--redis", "--redis-url", dest="redis", metavar="URL", help="e.g. redis://127.0.0.1:6379/12"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="sending processes: 1 is a dispatcher in the bench's process, more are "
        "`nextup worker`s (PostgreSQL needed; with --redis they share the limits)",
    )
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds")
    parser.add_argument("--seed", type=int, default=1, help="for the choice of queue and counter")
    parser.add_argument("--json", type=Path, help="default: bench/results/notify-<UTC time>.json")
    args = parser.parse_args(argv)
    if args.redis and urlsplit(args.redis).hostname not in LOCAL_HOSTS:
        parser.error("--redis must be on 127.0.0.1")
    if args.patients < 1 or not 1 <= args.queues <= 99 or args.queues > args.patients:
        parser.error("need 1 <= --queues <= 99 and at least one patient per queue")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.processes > 1 and not (
        (args.database_url or os.environ.get("NEXTUP_BENCH_DATABASE_URL") or "").startswith(
            ("postgres://", "postgresql://")
        )
    ):
        parser.error("--processes above 1 needs a PostgreSQL server (--database-url)")
    if args.calls > args.patients:
        parser.error("--calls cannot exceed --patients")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Warnings (a failed notification, a late result) are worth seeing; retries are counted.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return run_bench(bench(args), report, lambda _: args.json or RESULTS / f"notify-{stamp}.json")


if __name__ == "__main__":
    sys.exit(main())
