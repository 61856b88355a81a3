"""`nextup report --day YYYY-MM-DD [--queue CODE] [--json]`: the daily summary of one local
day (each queue's own time zone), for every queue or one, as a table or as JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.services.reports import DailySummary, daily_summary, parse_day
from core.settings import Settings
from nextup.lifecycle import with_database
from nextup.wiring import Container

COLUMNS = (
    ("queue", "code"),
    ("visits", "visits"),
    ("done", "completed"),
    ("no-shows", "no_shows"),
    ("left", "cancelled"),
    ("mean wait", "mean_wait_s"),
    ("p90 wait", "p90_wait_s"),
    ("rating", "average_rating"),
    ("SMS segments", "sms_segments"),
    ("failed", "failed_notifications"),
)


def cell(field: str, value: Any) -> str:
    if value is None:
        return "-"
    if field.endswith("_s"):
        return f"{value / 60:.1f} min"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table(summaries: list[DailySummary]) -> str:
    rows = [[title for title, _ in COLUMNS]]
    rows += [[cell(f, getattr(s, f)) for _, f in COLUMNS] for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    day = parse_day(args.day, "--day")

    async def work(container: Container) -> int:
        codes = (
            [args.queue.upper()]
            if args.queue
            else [q.code for q in await container.queues.list_queues()]
        )
        summaries = [await daily_summary(code, day) for code in codes]
        if args.json:
            print(json.dumps([s.to_dict() for s in summaries], indent=2, ensure_ascii=False))
        else:
            print(f"{day.isoformat()} (each queue's local day)")
            print(table(summaries))
        return 0

    return with_database(settings, work)


def add_arguments(sub: Any) -> None:
    report = sub.add_parser(
        "report", help="the daily summary of a day: visits, waits, no-shows, ratings, SMS"
    )
    report.add_argument("--day", required=True, help="the local day, YYYY-MM-DD")
    report.add_argument("--queue", help="one queue's code (default: every queue)")
    report.add_argument("--json", action="store_true", help="JSON instead of a table")
    report.set_defaults(run=cmd_report)
