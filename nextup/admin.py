"""Administration from the command line: schema migrations, staff accounts and the queues
they work on, API tokens, Telegram link codes."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from typing import Any

from core.domain.errors import InvalidValue
from core.services import accounts
from core.settings import Settings
from nextup.lifecycle import with_database
from nextup.wiring import Container


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from core.storage import db

    asyncio.run(db.migrate(settings.database_url))
    print("migrations applied")
    return 0


def new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password for `createuser` and `passwd`: from stdin with --password-stdin, typed
    twice on a terminal, else generated; and whether it was generated (then it is printed)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise InvalidValue("the passwords differ")
        return password, False
    return secrets.token_urlsafe(12), True


def cmd_createuser(settings: Settings, args: argparse.Namespace) -> int:
    password, generated = new_password(args)

    async def work(container: Container) -> int:
        account = await accounts.create_account(
            args.name, args.role, password, split_codes(args.queues)
        )
        print(f"created {args.role} {args.name}, queues: {describe_queues(account)}")
        if generated:
            print(f"password: {password}")
        return 0

    return with_database(settings, work)


def cmd_passwd(settings: Settings, args: argparse.Namespace) -> int:
    password, generated = new_password(args)

    async def work(container: Container) -> int:
        await accounts.set_password(args.name, password)
        print(f"new password for {args.name}; their console sessions have ended")
        if generated:
            print(f"password: {password}")
        return 0

    return with_database(settings, work)


def split_codes(text: str) -> list[str]:
    return [code for code in text.split(",") if code.strip()]


def describe_queues(account: Any) -> str:
    if account.role == accounts.Role.ADMIN or accounts.ALL_QUEUES in account.queues:
        return "every queue"
    return ", ".join(account.queues) or "none yet (nextup queues NAME PHARM,LAB)"


def cmd_queues(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        account = await accounts.assign_queues(args.name, split_codes(args.codes))
        print(f"{account.name} works on: {describe_queues(account)}")
        return 0

    return with_database(settings, work)


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    words: list[str] = args.words
    if words[0] == "list" and len(words) == 1:
        return with_database(settings, list_tokens)
    if words[0] == "revoke" and len(words) == 2 and words[1].isdigit():
        token_id = int(words[1])

        async def revoke(container: Container) -> int:
            await accounts.revoke_token(token_id)
            print(f"token {token_id} revoked")
            return 0

        return with_database(settings, revoke)
    if len(words) != 1:
        print("nextup: use `token NAME`, `token list` or `token revoke ID`", file=sys.stderr)
        return 2

    async def issue(container: Container) -> int:
        print(await accounts.issue_token(words[0], args.expires_days, container.clock()))
        return 0

    return with_database(settings, issue)


async def list_tokens(container: Container) -> int:
    now = container.clock()
    print(f"{'ID':>5}  {'ACCOUNT':<20} {'CREATED':<17} {'EXPIRES':<17} {'LAST USED':<17} STATE")
    for t in await accounts.list_tokens():
        state = (
            "revoked"
            if t.revoked
            else "expired"
            if t.expires_at is not None and t.expires_at <= now
            else "active"
        )
        print(
            f"{t.id:>5}  {t.account:<20} {minute(t.created_at):<17} {minute(t.expires_at):<17} "
            f"{minute(t.last_used_at):<17} {state}"
        )
    return 0


def minute(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else "-"


def cmd_link_code(settings: Settings, args: argparse.Namespace) -> int:
    from core.services.staff_chat import LINK_CODE_TTL, issue_link_code

    async def work(container: Container) -> int:
        code = await issue_link_code(args.name, container.clock())
        minutes = int(LINK_CODE_TTL.total_seconds() // 60)
        print(code)
        print(f"send /link {code} to the bot within {minutes} minutes", file=sys.stderr)
        return 0

    return with_database(settings, work)
