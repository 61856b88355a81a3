"""Keyed hashes of patient addresses (phone numbers, Telegram chat ids).

What must outlive a patient's erasure (their opt-out) and what is looked up by address
without needing the address back (a language choice, the consent record) is stored under
HMAC-SHA256 of the address, keyed with a key derived from the secret key: without the key
a stored hash cannot be matched against a list of numbers. The key is the process's, set
once when the container starts, like the database connection itself.
"""

from __future__ import annotations

import hashlib
import hmac

_CONTEXT = b"nextup contact address v1"
"""Derives a key of its own from the secret key, so a hash is never a session signature."""


class KeyNotSet(RuntimeError):
    pass


_key: bytes | None = None


def derive_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()


def use_secret(secret: str) -> None:
    """Keys every hash this process makes from now on with `secret` (NEXTUP_SECRET_KEY)."""
    global _key
    _key = derive_key(secret)


def keyed_hash(key: bytes, channel: str, address: str) -> str:
    """64 hex digits; the channel is part of it, so a chat id never matches a number."""
    return hmac.new(key, f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()


def address_hash(channel: str, address: str) -> str:
    if _key is None:
        raise KeyNotSet("pseudonyms.use_secret() was not called: the container is not started")
    return keyed_hash(_key, channel, address)
