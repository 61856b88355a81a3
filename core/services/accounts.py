"""Staff accounts, API tokens and roles."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from tortoise.exceptions import IntegrityError

from core.domain.errors import InvalidValue
from core.services.errors import AlreadyExists, NotFound, Unauthorized
from core.storage.models import ApiToken, StaffAccount

TOKEN_PREFIX = "nxt_"
_hasher = PasswordHasher()


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    PHARMACIST = "pharmacist"


def token_digest(token: str) -> str:
    """Tokens are stored as SHA-256: random and long, so no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_account(name: str, role: str, password: str) -> StaffAccount:
    if role not in Role.__members__.values():
        raise InvalidValue(f"role must be one of {', '.join(Role)}, got {role!r}")
    if not name or len(name) > 64:
        raise InvalidValue("name must be 1 to 64 characters")
    _check_password(password)
    try:
        return await StaffAccount.create(name=name, role=role, password_hash=_hasher.hash(password))
    except IntegrityError:
        raise AlreadyExists(f"an account named {name!r} already exists") from None


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise InvalidValue("password must be at least 8 characters")


async def set_password(name: str, password: str) -> None:
    """A new password for an existing account (`nextup passwd`). Its console sessions end
    with the old password: each carries a fingerprint of the password hash (web/session.py).
    Server-side revocation, when sessions get it, belongs here too."""
    _check_password(password)
    updated = await StaffAccount.filter(name=name).update(password_hash=_hasher.hash(password))
    if not updated:
        raise NotFound("account", name)


async def issue_token(name: str) -> str:
    account = await StaffAccount.get_or_none(name=name, is_active=True)
    if account is None:
        raise NotFound("account", name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(account=account, token_hash=token_digest(token))
    return token


async def account_for_token(token: str) -> StaffAccount:
    row = await ApiToken.get_or_none(
        token_hash=token_digest(token), revoked=False
    ).prefetch_related("account")
    if row is None or not row.account.is_active:
        raise Unauthorized("unknown or revoked API token")
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
    account = await StaffAccount.get_or_none(name=name, is_active=True)
    try:
        # An unknown name is checked against a dummy hash: the same work, the same answer.
        _hasher.verify(account.password_hash if account else _dummy_hash(_hasher), password)
        if account is None:
            raise VerificationError
    except VerificationError:
        raise Unauthorized("wrong name or password") from None
    return account
