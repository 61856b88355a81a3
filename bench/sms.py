"""Benchmark: SMS notifications through the Twilio REST emulator, each sending number held
to its rate, and what a typical visit costs in SMS segments.

    .venv/bin/python bench/sms.py [--messages 500] [--numbers 10] [--rate 1]
    NEXTUP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/sms.py

The database is chosen as in bench/notify.py (a temporary SQLite file by default; with a
PostgreSQL URL, a `bench_sms` database created and dropped there). Only 127.0.0.1 is used.

What runs, in this process: the Twilio emulator (each number allows --rate messages a
second and answers 429 / 20429 beyond, with 50 ms of jitter allowance), the NextUp web app
with its Twilio webhooks (status callbacks for every message come back to it, signed), the
real notification dispatcher with the real twilio client.

1. rate: --messages walk-ins with a phone are added across 10 queues (each writes a
   "joined" SMS), then the dispatcher drains them through --numbers numbers. The achieved
   rate is (messages - 1) / (last arrival - first arrival), against numbers x rate.
2. visits: --visits patients join one queue by text, a third of them ask STATUS once,
   staff call and complete each in turn. Segments per visit are summed over every SMS of
   the visit, the replies to the patient's texts included.

Results are printed and written to bench/results/sms-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.* and tests.emulators

from bench.api import percentile, until_sigterm  # noqa: E402
from bench.notify import Database, choose_database, wait_drained  # noqa: E402
from core.domain.model import QueueConfig  # noqa: E402
from core.services.queues import new_join_request  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.storage.models import OutboxMessage, TicketRow  # noqa: E402
from nextup.wiring import Container, build_container  # noqa: E402
from sms.webhooks import sms_blueprint  # noqa: E402
from tests.emulators.twilio import TwilioEmulator  # noqa: E402
from tests.servers import serve, shut  # noqa: E402
from web.app import create_app  # noqa: E402

PUBLIC_URL = "https://queue.example-hospital.org"
RESULTS = ROOT / "bench" / "results"


def say(message: str) -> None:
    print(f"[bench/sms] {message}", flush=True)


async def serve_app(container: Container, auth_token: str) -> tuple[Any, str]:
    app = create_app(container, name="bench_sms")
    app.blueprint(sms_blueprint(container.sms, auth_token, PUBLIC_URL))
    return await serve(app)


async def rate_phase(
    args: argparse.Namespace, container: Container, twilio: TwilioEmulator
) -> dict[str, Any]:
    codes = [f"R{n:02d}" for n in range(10)]
    for code in codes:
        await container.queues.create_queue(code, f"Rate {code}", code[-1], QueueConfig(), ["1"])
    say(f"adding {args.messages} walk-ins with a phone")
    for n in range(args.messages):
        request = new_join_request(phone=f"+1555{n:07d}")
        await container.queues.join(codes[n % len(codes)], request, "bench")
    dispatcher = container.notification_dispatcher()
    started = time.monotonic()
    task = asyncio.create_task(dispatcher.run())
    try:
        limit = args.numbers * args.rate
        say(f"draining through {args.numbers} numbers at {args.rate}/s each ({limit}/s)")
        finished = await wait_drained(args.messages / limit * 3 + 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await dispatcher.close()
    arrivals = sorted(m.at for m in twilio.messages if m.direction == "outbound-api")
    span_s = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    achieved = (len(arrivals) - 1) / span_s if span_s else 0.0
    gaps = [
        b - a for times in twilio.sent_per_number().values() for a, b in itertools.pairwise(times)
    ]
    statuses = await OutboxMessage.filter(kind="joined").values_list("status", flat=True)
    return {
        "drained": finished,
        "messages_sent": len(arrivals),
        "limit_per_s": limit,
        "achieved_per_s": round(achieved, 3),
        "of_limit": round(achieved / limit, 4) if limit else None,
        "first_send_after_s": round(arrivals[0] - started, 3) if arrivals else None,
        "throttled_429": twilio.throttled,
        "min_gap_per_number_s": round(min(gaps), 4) if gaps else None,
        "statuses": {s: list(statuses).count(s) for s in sorted(set(statuses))},
    }


async def visit_phase(
    args: argparse.Namespace, container: Container, twilio: TwilioEmulator
) -> dict[str, Any]:
    await container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1", "2"])
    dispatcher = container.notification_dispatcher()
    task = asyncio.create_task(dispatcher.run())
    phones = [f"+1666{n:07d}" for n in range(args.visits)]
    try:
        for phone in phones:
            await twilio.send_sms(phone, "JOIN PHARM")
        for n, phone in enumerate(phones):
            if n % 3 == 0:
                await twilio.send_sms(phone, "STATUS")
            ticket = await container.queues.call_next("PHARM", "1", "staff:bench")
            await asyncio.sleep(0.3)  # the patient walks up
            await container.queues.ticket_action(ticket.id, "start", "staff:bench")
            await container.queues.ticket_action(ticket.id, "complete", "staff:bench")
        await wait_drained(60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await dispatcher.close()
    per_visit: list[int] = []
    kinds: dict[str, int] = {}
    for ticket in await TicketRow.filter(queue__code="PHARM"):
        rows = await OutboxMessage.filter(ticket_id=ticket.id, channel="sms", status="sent")
        per_visit.append(sum(r.segments or 0 for r in rows))
        for r in rows:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
    per_visit.sort()
    return {
        "visits": len(per_visit),
        "segments_per_visit_mean": round(statistics.fmean(per_visit), 2),
        "segments_per_visit_p50": percentile([float(v) for v in per_visit], 50),
        "segments_per_visit_max": max(per_visit),
        "messages_by_kind": kinds,
        "public_url": PUBLIC_URL,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    db: Database = choose_database(args)
    await db.create()
    numbers = [f"+1555000{n:04d}" for n in range(args.numbers)]
    try:
        async with TwilioEmulator(numbers=numbers, rate_per_s=args.rate) as twilio:
            settings = load_settings(
                database_url=db.url,
                public_url=PUBLIC_URL,
                twilio_account_sid=twilio.account_sid,
                twilio_auth_token=twilio.auth_token,
                twilio_from=",".join(numbers),
                twilio_api_base=twilio.base_url,
                twilio_rate_per_s=args.rate,
                env="development",
            )
            container = build_container(settings)
            await container.start(migrate=True)
            server, local_url = await serve_app(container, twilio.auth_token)
            twilio.callback_base = local_url
            twilio.sms_webhook_url = f"{PUBLIC_URL}/hooks/twilio/sms"
            try:
                rate = await rate_phase(args, container, twilio)
                visits = await visit_phase(args, container, twilio)
            finally:
                await twilio.cancel_callbacks()
                await shut(server)
                await asyncio.sleep(0.05)
                await container.stop()
            callbacks = [c.status for c in twilio.callbacks]
    finally:
        await db.remove()
    return {
        "database": db.kind,
        "rate": rate,
        "visits": visits,
        "status_callbacks": {"posted": len(callbacks), "answered_200": callbacks.count(200)},
    }


def report(result: dict[str, Any]) -> str:
    rate, visits = result["rate"], result["visits"]
    lines = [
        f"database: {result['database']}",
        f"SMS sent: {rate['messages_sent']} (outbox: {rate['statuses']})",
        f"rate: {rate['achieved_per_s']}/s of {rate['limit_per_s']}/s "
        f"= {rate['of_limit']:.1%} (target >= 95%)",
        f"429s provoked: {rate['throttled_429']} (target 0); "
        f"closest two sends from one number: {rate['min_gap_per_number_s']} s",
        f"segments per visit ({visits['visits']} visits by text): mean "
        f"{visits['segments_per_visit_mean']}, p50 {visits['segments_per_visit_p50']}, "
        f"max {visits['segments_per_visit_max']} (target <= 4)",
        f"messages in those visits: {visits['messages_by_kind']}",
        f"status callbacks: {result['status_callbacks']}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--numbers", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per number")
    parser.add_argument("--visits", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--database", default="bench_sms")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    try:
        result = asyncio.run(until_sigterm(bench(args)))
    except (asyncio.CancelledError, KeyboardInterrupt):
        say("stopped; the bench database is gone")
        return 130
    result["args"] = vars(args)
    print(report(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"sms-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    say(f"written to {path.relative_to(ROOT)}")
    rate = result["rate"]
    ok = rate["of_limit"] >= 0.95 and rate["throttled_429"] == 0
    return 0 if ok and result["visits"]["segments_per_visit_mean"] <= 4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
