"""The `nextup` command line: the parser, and each command handed to the module that runs it."""

from __future__ import annotations

import argparse
import sys

from core.domain.errors import DomainError
from core.services import accounts
from core.settings import SettingsError, load_settings
from nextup.admin import (
    cmd_createuser,
    cmd_link_code,
    cmd_migrate,
    cmd_passwd,
    cmd_queues,
    cmd_token,
)
from nextup.demo import cmd_demo
from nextup.lifecycle import freeze_long_lived_objects
from nextup.logs import configure_logging
from nextup.privacy_cli import add_arguments as add_privacy_arguments
from nextup.report_cli import add_arguments as add_report_arguments
from nextup.serve import cmd_bot, cmd_serve, cmd_worker
from sim.cli import add_arguments as add_simulate_arguments


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    freeze_long_lived_objects()
    try:
        settings = load_settings()
        configure_logging(settings.log_format, process=f"nextup-{args.command}")
        result: int = args.run(settings, args)
        return result
    except SettingsError as exc:
        print(f"nextup: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"nextup: {exc}", file=sys.stderr)
        return 1
    except (OSError, ConnectionError) as exc:
        print(f"nextup: cannot reach a service: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nextup", description="NextUp patient queues")
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")

    serve = sub.add_parser("serve", help="the web app, API and websockets")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--roles",
        help="what this process does, e.g. web or dispatcher,bot (default NEXTUP_ROLES: "
        "web,dispatcher,bot)",
    )
    serve.set_defaults(run=cmd_serve)

    sub.add_parser("migrate", help="apply schema migrations").set_defaults(run=cmd_migrate)

    user = sub.add_parser("createuser", help="create a staff account")
    user.add_argument("name")
    user.add_argument("--role", required=True, choices=[r.value for r in accounts.Role])
    user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user.add_argument(
        "--queues",
        default="",
        help="queue codes the account works on, e.g. PHARM,LAB ('*': every queue; admins "
        "always have every queue)",
    )
    user.set_defaults(run=cmd_createuser)

    passwd = sub.add_parser("passwd", help="set a new password for a staff account")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    passwd.set_defaults(run=cmd_passwd)

    assign = sub.add_parser("queues", help="set the queues a staff account works on")
    assign.add_argument("name")
    assign.add_argument("codes", help="e.g. PHARM,LAB; '*' for every queue; '' for none")
    assign.set_defaults(run=cmd_queues)

    token = sub.add_parser(
        "token",
        help="API tokens: `token NAME [--expires-days N]` prints a new one, `token list`, "
        "`token revoke ID`",
    )
    token.add_argument("words", nargs="+", metavar="NAME | list | revoke ID")
    token.add_argument("--expires-days", type=int, help="the token stops working after N days")
    token.set_defaults(run=cmd_token)

    sub.add_parser(
        "worker", help="the notification dispatcher and housekeeping alone (role dispatcher)"
    ).set_defaults(run=cmd_worker)
    sub.add_parser("bot", help="Telegram long polling alone (role bot)").set_defaults(run=cmd_bot)

    link = sub.add_parser("link-code", help="a one-time code to link a Telegram chat")
    link.add_argument("name")
    link.set_defaults(run=cmd_link_code)

    add_privacy_arguments(sub)
    add_report_arguments(sub)

    simulate = sub.add_parser(
        "simulate", help="simulate working days through the queue engine, per policy"
    )
    add_simulate_arguments(simulate)
    sub.add_parser("demo", help="demo queues, counters and an admin account").set_defaults(
        run=cmd_demo
    )
    return parser
