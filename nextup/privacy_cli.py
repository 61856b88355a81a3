"""`nextup purge` and `nextup patient export|erase`: the retention purge on demand, and a
person's access and erasure requests from the command line."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from core.services.privacy import Subject
from core.settings import Settings
from nextup.lifecycle import with_database
from nextup.wiring import Container


def cli_actor() -> str:
    """Who ran the command, for the privacy log: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for the uid (a bare container)
        return "cli"


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        counts = await container.privacy.purge(args.days, args.dry_run, cli_actor())
        days = settings.retention_days if args.days is None else args.days
        verb = "would erase" if args.dry_run else "erased"
        print(f"personal data of what ended more than {days} days ago: {verb}")
        for kind in sorted(counts):
            print(f"  {kind:<10} {counts[kind]}")
        if not counts:
            print("  nothing")
        return 0

    return with_database(settings, work)


def cmd_patient(settings: Settings, args: argparse.Namespace) -> int:
    subject = Subject.of(args.phone, args.telegram_chat_id, settings.phone_region)

    async def work(container: Container) -> int:
        result: Any
        if args.action == "export":
            result = await container.privacy.export(subject, cli_actor())
        else:
            result = {"erased": dict(await container.privacy.erase(subject, cli_actor()))}
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0

    return with_database(settings, work)


def add_arguments(sub: Any) -> None:
    purge = sub.add_parser(
        "purge", help="erase the personal data of visits ended more than N days ago"
    )
    purge.add_argument(
        "--days", type=int, help="days after a visit ends (default NEXTUP_RETENTION_DAYS)"
    )
    purge.add_argument("--dry-run", action="store_true", help="count what would go, erase nothing")
    purge.set_defaults(run=cmd_purge)

    patient = sub.add_parser(
        "patient", help="a person's data: `export` prints it as JSON, `erase` erases it now"
    )
    patient.add_argument("action", choices=["export", "erase"])
    who = patient.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone", help="their phone number (E.164, or local to NEXTUP_PHONE_REGION)")
    who.add_argument("--telegram-chat-id", type=int, help="their Telegram chat id")
    patient.set_defaults(run=cmd_patient)
