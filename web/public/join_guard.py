"""What keeps the public join form honest: a signed form token against posts from other
sites, and a per-address limit against one client filling a queue (or texting strangers).

The form has no session, so its token cannot be tied to one; it is tied to the queue and
the time it was issued instead, signed with the app's key. A page of another site can
neither read it (same-origin policy) nor compute it, and an old one stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque

FORM_TOKEN_MAX_AGE_S = 30 * 60
"""Long enough to fill the form in a waiting room, short enough that a leaked one expires."""
JOINS_PER_ADDRESS = 10
JOIN_WINDOW_S = 10 * 60
"""Ten joins per client address in ten minutes: a family at one phone, or a few patients
behind a clinic's shared Wi-Fi, get through; a script does not."""


class FormTokens:
    """Tokens for the join form of one queue: `<issued_s>.<mac>`."""

    def __init__(self, secret: str, max_age_s: float = FORM_TOKEN_MAX_AGE_S) -> None:
        # Its own key: a form token is never mistaken for a session's MAC, or the reverse.
        self._key = hashlib.sha256(b"nextup-join-form:" + secret.encode()).digest()
        self.max_age_s = max_age_s

    def _mac(self, code: str, issued_s: int) -> str:
        message = f"join:{code}:{issued_s}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def issue(self, code: str, now_s: float | None = None) -> str:
        issued_s = int(now_s if now_s is not None else time.time())
        return f"{issued_s}.{self._mac(code, issued_s)}"

    def valid(self, code: str, token: str | None, now_s: float | None = None) -> bool:
        """True for a token this app issued for this queue within `max_age_s`."""
        issued, _, mac = (token or "").partition(".")
        # ASCII digits only: `str.isdigit` also takes digits on which int() fails.
        if not (issued.isascii() and issued.isdigit()) or len(issued) > 12:
            return False
        issued_s = int(issued)
        now = now_s if now_s is not None else time.time()
        if not 0 <= now - issued_s <= self.max_age_s:
            return False
        return hmac.compare_digest(mac.encode(), self._mac(code, issued_s).encode())


class SlidingWindow:
    """At most `max_hits` per key in any `window_s`. Kept in memory, per process: with
    several processes each counts its own, so the effective limit is that many times higher."""

    MAX_KEYS = 10_000
    """Past this many keys, the ones with no hit left in the window are forgotten."""

    def __init__(self, max_hits: int = JOINS_PER_ADDRESS, window_s: float = JOIN_WINDOW_S) -> None:
        self.max_hits = max_hits
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        return hits

    def hit(self, key: str, now: float | None = None) -> float:
        """Counts a hit and returns 0, or returns the seconds until one is allowed again
        (and counts nothing: waiting out the window is enough to get back in)."""
        now = now if now is not None else time.monotonic()
        hits = self._recent(key, now)
        if len(hits) >= self.max_hits:
            return hits[0] + self.window_s - now
        hits.append(now)
        if len(self._hits) > self.MAX_KEYS:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        for key in list(self._hits):
            if not self._recent(key, now):
                del self._hits[key]
