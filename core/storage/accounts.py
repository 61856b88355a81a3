"""Staff accounts and what hangs off them: console session epochs, API tokens, Telegram
link codes and the chat an account is linked to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core.storage import command_sql
from core.storage.models import ApiToken, LinkCode, StaffAccount

# -- accounts ----------------------------------------------------------------------------------


async def add(name: str, role: str, password_hash: str, queues: list[str]) -> StaffAccount | None:
    """The new account; None when the name is taken."""
    try:
        return await StaffAccount.create(
            name=name, role=role, password_hash=password_hash, queues=queues
        )
    except IntegrityError:
        return None


async def by_name(name: str, active_only: bool = False) -> StaffAccount | None:
    active: dict[str, Any] = {"is_active": True} if active_only else {}
    return await StaffAccount.get_or_none(name=name, **active)


async def by_id(account_id: int, active_only: bool = False) -> StaffAccount | None:
    active: dict[str, Any] = {"is_active": True} if active_only else {}
    return await StaffAccount.get_or_none(id=account_id, **active)


async def active_except(role: str) -> list[StaffAccount]:
    """The active accounts of every other role, by name."""
    return await StaffAccount.filter(is_active=True).exclude(role=role).order_by("name")


async def set_queues(account: StaffAccount, queues: list[str]) -> None:
    account.queues = queues
    await account.save(update_fields=["queues"])


async def set_password_hash(name: str, password_hash: str) -> bool:
    """Ends the account's console sessions too; False for an unknown name."""
    updated = await StaffAccount.filter(name=name).update(
        password_hash=password_hash, session_epoch=F("session_epoch") + 1
    )
    return bool(updated)


async def end_sessions(name: str) -> bool:
    """Moves the account to a new session epoch; False for an unknown name."""
    updated = await StaffAccount.filter(name=name).update(session_epoch=F("session_epoch") + 1)
    return bool(updated)


async def remember_counter(account: StaffAccount, queue_code: str, counter: str) -> None:
    """Where the account last called from the chat."""
    account.last_queue, account.last_counter = queue_code, counter
    await account.save(update_fields=["last_queue", "last_counter"])


# -- API tokens --------------------------------------------------------------------------------


async def add_token(account: StaffAccount, token_hash: str, expires_at: datetime | None) -> None:
    await ApiToken.create(account=account, token_hash=token_hash, expires_at=expires_at)


async def tokens() -> list[ApiToken]:
    """Every token, oldest first, each with its account."""
    return await ApiToken.all().order_by("id").prefetch_related("account")


@dataclass(frozen=True)
class LiveToken:
    """An unrevoked API token, with its account."""

    id: int
    expires_at: datetime | None
    last_used_at: datetime | None
    account: StaffAccount


_LIVE_TOKEN_COLUMNS = ("id", "expires_at", "last_used_at")


async def unrevoked_token(token_hash: str) -> LiveToken | None:
    """The token with its account, unless it was revoked: on every API request, so one
    query (a join) of fixed text (the ORM's query builder cost about what the query did)."""
    rows = await command_sql.returning(
        connections.get("default"),
        "SELECT a.*, "
        + ", ".join(f"t.{name} AS token_{name}" for name in _LIVE_TOKEN_COLUMNS)
        + " FROM api_tokens t JOIN staff_accounts a ON a.id = t.account_id"
        " WHERE t.token_hash = ? AND NOT t.revoked",
        [token_hash],
    )
    if not rows:
        return None
    account = dict(rows[0])
    fields = ApiToken._meta.fields_map
    token = {
        name: fields[name].to_python_value(account.pop(f"token_{name}"))
        for name in _LIVE_TOKEN_COLUMNS
    }
    return LiveToken(account=StaffAccount._init_from_db(**account), **token)


async def revoke_token(token_id: int) -> bool:
    """False for an unknown token."""
    return bool(await ApiToken.filter(id=token_id).update(revoked=True))


async def token_used(token_id: int, at: datetime) -> None:
    await ApiToken.filter(id=token_id).update(last_used_at=at)


# -- Telegram chats ----------------------------------------------------------------------------


async def add_link_code(account: StaffAccount, code_hash: str, expires_at: datetime) -> None:
    await LinkCode.create(account=account, code_hash=code_hash, expires_at=expires_at)


async def link_chat(
    code_hash: str, chat_id: int, user_id: int, now: datetime
) -> StaffAccount | None:
    """Uses the code once, linking its account to the chat (which no other account keeps).

    None when the code is unknown, used or expired. A disabled account is returned as it is,
    and nothing is written: the code stays unused."""
    async with in_transaction() as conn:
        link = (
            await LinkCode.select_for_update()
            .using_db(conn)
            .get_or_none(code_hash=code_hash, used_at=None)
        )
        if link is None or link.expires_at <= now:
            return None
        account = await StaffAccount.get(id=link.account_id, using_db=conn)  # type: ignore[attr-defined]
        if not account.is_active:
            return account
        link.used_at = now
        await link.save(using_db=conn, update_fields=["used_at"])
        await (
            StaffAccount.filter(telegram_chat_id=chat_id)
            .using_db(conn)
            .update(telegram_chat_id=None)
        )
        account.telegram_chat_id, account.telegram_user_id = chat_id, user_id
        await account.save(using_db=conn, update_fields=["telegram_chat_id", "telegram_user_id"])
    return account


async def by_chat(chat_id: int, user_id: int) -> StaffAccount | None:
    """The active account linked to the chat by that Telegram user."""
    return await StaffAccount.get_or_none(
        telegram_chat_id=chat_id, telegram_user_id=user_id, is_active=True
    )
