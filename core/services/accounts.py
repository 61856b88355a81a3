"""Staff accounts, API tokens and roles."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from core.domain.errors import InvalidValue
from core.domain.model import queue_code
from core.services.errors import Unauthorized
from core.storage import accounts as stored
from core.storage.errors import AlreadyExists, NotFound
from core.storage.models import StaffAccount

TOKEN_PREFIX = "nxt_"
ALL_QUEUES = "*"
"""Assigned to a non-admin account: every queue, present and future (a floating nurse)."""
LAST_USE_PRECISION = timedelta(hours=1)
_hasher = PasswordHasher()


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    PHARMACIST = "pharmacist"


def token_digest(token: str) -> str:
    """Tokens are stored as SHA-256: random and long, so no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_queues(codes: Iterable[str]) -> list[str]:
    """Queue codes as typed (`PHARM,lab`), checked and in capitals; `*` for every queue."""
    parsed: list[str] = []
    for raw in codes:
        raw = raw.strip()
        if raw == ALL_QUEUES:
            parsed.append(ALL_QUEUES)
            continue
        code = queue_code(raw)
        if code is None:
            raise InvalidValue(f"{raw!r} is not a queue code")
        parsed.append(code)
    return list(dict.fromkeys(parsed))


def actor(account: StaffAccount) -> str:
    """Who the audit trail says acted: `staff:<name>`, whether through the API, the console,
    a patient's page or the bot (reports count a staff member's work by this prefix)."""
    return f"staff:{account.name}"


def can_use_queue(account: StaffAccount, code: str) -> bool:
    """The one rule of queue scope: admins work on every queue, others on those assigned."""
    assigned = account.queues or []
    return account.role == Role.ADMIN or ALL_QUEUES in assigned or code.upper() in assigned


def require_queue(account: StaffAccount, code: str) -> None:
    """An unassigned queue is "not found": its existence is none of the account's business."""
    if not can_use_queue(account, code):
        raise NotFound("queue", code.upper())


async def create_account(
    name: str, role: str, password: str, queues: Sequence[str] = ()
) -> StaffAccount:
    if role not in Role.__members__.values():
        raise InvalidValue(f"role must be one of {', '.join(Role)}, got {role!r}")
    if not name or len(name) > 64:
        raise InvalidValue("name must be 1 to 64 characters")
    _check_password(password)
    account = await stored.add(name, role, _hasher.hash(password), parse_queues(queues))
    if account is None:
        raise AlreadyExists(f"an account named {name!r} already exists")
    return account


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise InvalidValue("password must be at least 8 characters")


async def set_password(name: str, password: str) -> None:
    """A new password for an existing account (`nextup passwd`); its console sessions end,
    in every process."""
    _check_password(password)
    if not await stored.set_password_hash(name, _hasher.hash(password)):
        raise NotFound("account", name)


async def assign_queues(name: str, queues: Sequence[str]) -> StaffAccount:
    """Replaces the account's queues; its open websockets are re-checked within seconds."""
    account = await stored.by_name(name)
    if account is None:
        raise NotFound("account", name)
    await stored.set_queues(account, parse_queues(queues))
    return account


@dataclass(frozen=True)
class QueueStaff:
    name: str
    role: str
    assigned: bool
    everywhere: bool
    """Assigned every queue (`*`): not changed queue by queue."""


async def staff_of_queue(code: str) -> list[QueueStaff]:
    """The active non-admin accounts, and whether each works on the queue."""
    rows = await stored.active_except(Role.ADMIN)
    return [
        QueueStaff(r.name, r.role, can_use_queue(r, code), ALL_QUEUES in (r.queues or []))
        for r in rows
    ]


async def set_queue_staff(code: str, names: Iterable[str]) -> None:
    """Exactly these non-admin accounts work on the queue (those with every queue keep it)."""
    wanted = set(names)
    for row in await stored.active_except(Role.ADMIN):
        assigned = [c for c in (row.queues or []) if c != code]
        if ALL_QUEUES in assigned:
            continue
        if row.name in wanted:
            assigned.append(code)
        if assigned != (row.queues or []):
            await stored.set_queues(row, assigned)


async def revoke_sessions(name: str) -> None:
    """Ends every console session of the account, in every process (logout, new password)."""
    if not await stored.end_sessions(name):
        raise NotFound("account", name)


async def issue_token(
    name: str, expires_days: int | None = None, now: datetime | None = None
) -> str:
    account = await stored.by_name(name, active_only=True)
    if account is None:
        raise NotFound("account", name)
    expires_at = None
    if expires_days is not None:
        if not 1 <= expires_days <= 3650:
            raise InvalidValue("--expires-days must be from 1 to 3650")
        expires_at = (now or datetime.now(UTC)) + timedelta(days=expires_days)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await stored.add_token(account, token_digest(token), expires_at)
    return token


@dataclass(frozen=True)
class TokenInfo:
    id: int
    account: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


async def list_tokens() -> list[TokenInfo]:
    rows = await stored.tokens()
    return [
        TokenInfo(r.id, r.account.name, r.created_at, r.expires_at, r.last_used_at, r.revoked)
        for r in rows
    ]


async def revoke_token(token_id: int) -> None:
    if not await stored.revoke_token(token_id):
        raise NotFound("token", str(token_id))


async def account_for_token(token: str, now: datetime | None = None) -> StaffAccount:
    row = await stored.unrevoked_token(token_digest(token))
    now = now or datetime.now(UTC)
    if row is None or not row.account.is_active:
        raise Unauthorized("unknown or revoked API token")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("this API token has expired; ask for a new one (`nextup token NAME`)")
    if row.last_used_at is None or now - row.last_used_at > LAST_USE_PRECISION:
        # For `nextup token list`: to the hour, not a write on every request.
        await stored.token_used(row.id, now)
    return row.account


_dummy_hashes: dict[tuple[int, int, int], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of nothing anyone knows, made at the hasher's own cost, so that checking an
    unknown name takes as long as checking a real one (the time would tell names apart)."""
    cost = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if cost not in _dummy_hashes:
        _dummy_hashes[cost] = hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hashes[cost]


async def check_password(name: str, password: str) -> StaffAccount:
    account = await stored.by_name(name, active_only=True)
    try:
        # An unknown name is checked against a dummy hash: the same work, the same answer.
        _hasher.verify(account.password_hash if account else _dummy_hash(_hasher), password)
        if account is None:
            raise VerificationError
    except VerificationError:
        raise Unauthorized("wrong name or password") from None
    return account
