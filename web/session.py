"""Console sessions: signed cookies, CSRF tokens and the login rate limit.

A session is a cookie the server signed with `NEXTUP_SECRET_KEY`. It names the account, a
fingerprint of its password hash and the account's session epoch (a column): changing a
password, deactivating the account or logging out (which bumps the epoch) ends every session
of the account at once, in every process, at its next request. The CSRF token is derived
from the session's nonce: a page of another site can neither read it nor compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass

from core.storage.models import StaffAccount

COOKIE = "nextup_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 12 * 3600
"""A shift and a half: long enough for a working day, short enough for a lost cookie."""


def equal_secrets(given: str | bytes | None, expected: str | bytes | None) -> bool:
    """Constant-time equality of two secrets as UTF-8 bytes: a client may send any bytes,
    and `hmac.compare_digest` refuses str outside ASCII. Empty never matches."""
    if not given or not expected:
        return False
    as_bytes = [
        v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")
        for v in (given, expected)
    ]
    return hmac.compare_digest(as_bytes[0], as_bytes[1])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    account_id: int
    password_fingerprint: str
    issued_at: float
    nonce: str
    epoch: int = 0


def password_fingerprint(account: StaffAccount) -> str:
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


def still_current(session: Session, account: StaffAccount) -> bool:
    """The session was issued to the account as it is now: same password, not revoked."""
    return (
        account.is_active
        and session.epoch == account.session_epoch
        and hmac.compare_digest(
            password_fingerprint(account).encode(), session.password_fingerprint.encode()
        )
    )


class SessionSigner:
    def __init__(self, secret: str, max_age_s: float = SESSION_MAX_AGE_S) -> None:
        self._key = hashlib.sha256(b"nextup-session:" + secret.encode()).digest()
        self.max_age_s = max_age_s

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, account: StaffAccount, now_s: float | None = None) -> str:
        body = {
            "a": account.id,
            "f": password_fingerprint(account),
            "i": int(now_s if now_s is not None else time.time()),
            "n": secrets.token_urlsafe(16),
            "e": account.session_epoch,
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, cookie: str | None, now_s: float | None = None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged, malformed or old."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not equal_secrets(mac, self._mac(payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = Session(
                int(body["a"]), str(body["f"]), float(body["i"]), str(body["n"]), int(body["e"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        now = now_s if now_s is not None else time.time()
        if not 0 <= now - session.issued_at <= self.max_age_s:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf:" + session.nonce)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return equal_secrets(token, self.csrf_token(session))


class LoginLimiter:
    """At most `max_failures` failed logins per client address, and per account name, in any
    `window_s`; then the door stays shut until the oldest failure leaves the window.

    Kept in memory: with several processes each counts its own, so the effective limit is
    that many times higher (still a wall against guessing passwords)."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] >= self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return deque()
        return failures

    def retry_after_s(self, keys: list[str], now: float | None = None) -> float:
        """Seconds until a login may be tried again for these keys; 0 when it may now."""
        now = now if now is not None else time.monotonic()
        waits = [0.0]
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                waits.append(failures[0] + self.window_s - now)
        return max(waits)

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = now if now is not None else time.monotonic()
        for key in keys:
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        """Forgets the account's failures, not the address's: logging in to one's own
        account must not reset the count of guesses at others."""
        self._failures.pop(key, None)
