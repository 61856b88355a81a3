"""One Telegram poller per bot: a lock that one process holds while it long-polls.

Telegram hands each update to one `getUpdates` caller; two pollers of one bot take updates
from each other (and get 409 Conflict). The lock lives where the deployment's shared state
does: Redis when it is configured (a key with a TTL the holder keeps renewing, so a dead
holder's lock runs out), else a PostgreSQL session advisory lock, else (the embedded SQLite
database, one machine) a file lock beside the database; those two go with their process.
Whoever is refused learns who holds it, for a message an operator can act on.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

SANIC_WORKER = "Sanic-Server-"
"""How Sanic names the processes of `serve --workers N`."""
LOCK_NAMESPACE = 0x4E585550
"""The first key of NextUp's advisory locks ("NXUP"), the second being the bot's."""
REDIS_KEY_PREFIX = "nextup:telegram-poller:"
"""The Redis lock of a bot is this and its name."""


@dataclass(frozen=True)
class Holder:
    """A process that holds (or asks for) the lock."""

    process: str
    pid: int
    host: str
    since: str
    ppid: int = 0
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def this_process(cls, process: str) -> Holder:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return cls(process, os.getpid(), socket.gethostname(), now, os.getppid())

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Holder | None:
        try:
            data = json.loads(text or "")
            return cls(**{k: data[k] for k in ("process", "pid", "host", "since", "ppid", "token")})
        except (ValueError, TypeError, KeyError):
            return None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def describe(self) -> str:
        return f"{self.process} (pid {self.pid} on {self.host}, since {self.since})"

    def is_sibling_of(self, other: Holder) -> bool:
        """Another worker of the same `serve --workers N` (Sanic's worker processes, with one
        parent): expected, not worth a warning."""
        return (
            self.host == other.host
            and self.ppid == other.ppid
            and self.pid != other.pid
            and all(h.process.startswith(SANIC_WORKER) for h in (self, other))
        )


UNKNOWN = Holder("another process", 0, "an unknown host", "an unknown time", token="")


def lock_name(bot_token: str) -> str:
    """The bot's id and a hash of its token: the token itself is a credential."""
    digest = hashlib.sha256(bot_token.encode()).hexdigest()[:16]
    return f"{bot_token.split(':', 1)[0]}-{digest}"


class PollerLock(Protocol):
    me: Holder
    renew_interval_s: float
    """How often the holder renews (or checks that it still holds the lock)."""
    retry_interval_s: float
    """How often a refused process asks again."""

    async def try_acquire(self) -> Holder | None:
        """None when this process now holds the lock; else who does."""

    async def renew(self) -> bool:
        """Whether this process still holds the lock (and it is kept for another TTL)."""

    async def release(self) -> None:
        """Lets it go, if held; safe to call in any state. It may be taken again after."""

    async def close(self) -> None:
        """Lets it go and closes what it holds open (the process is done with it)."""


RENEW = """
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not value then
  return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisPollerLock:
    """A key holding the holder's description, with a TTL renewed a few times per TTL."""

    def __init__(self, url: str, name: str, me: Holder, ttl_s: float, retry_s: float) -> None:
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(url, socket_timeout=max(1.0, ttl_s / 4))
        self.key = REDIS_KEY_PREFIX + name
        self.me = me
        self._value = me.to_json()
        self._ttl_ms = int(ttl_s * 1000)
        self.renew_interval_s = ttl_s / 3
        self.retry_interval_s = min(retry_s, self.renew_interval_s)
        self._held = False

    async def try_acquire(self) -> Holder | None:
        if await self._redis.set(self.key, self._value, nx=True, px=self._ttl_ms):
            self._held = True
            return None
        return Holder.from_json(await self._redis.get(self.key)) or UNKNOWN

    async def renew(self) -> bool:
        from redis.exceptions import RedisError

        try:
            renewed = await self._redis.eval(RENEW, 1, self.key, self._value, self._ttl_ms)
        except (RedisError, OSError):
            # Nobody can take the lock while Redis is down either: keep polling, and learn
            # when it is back whether the lock ran out and someone else took it.
            return True
        self._held = bool(renewed)
        return self._held

    async def release(self) -> None:
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError, OSError):
            if self._held:
                await self._redis.eval(RELEASE, 1, self.key, self._value)
        self._held = False

    async def close(self) -> None:
        await self.release()
        await self._redis.aclose()


class PostgresPollerLock:
    """A session advisory lock on a connection of its own: the server lets it go the moment
    the connection ends, so a dead holder's lock goes with it. Its holder is found through
    `pg_stat_activity`, whose `application_name` the holder sets to its description."""

    def __init__(self, database_url: str, name: str, me: Holder, retry_s: float) -> None:
        self._dsn = "postgresql://" + database_url.split("://", 1)[1].split("?", 1)[0]
        self._key = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF
        self.me = me
        self.renew_interval_s = self.retry_interval_s = retry_s
        self._connection: Any = None

    def _application_name(self) -> str:
        # Postgres keeps 63 bytes of it.
        return f"{self.me.process} pid {self.me.pid} on {self.me.host}"[:63]

    async def try_acquire(self) -> Holder | None:
        import asyncpg  # type: ignore[import-untyped]

        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(
                self._dsn, server_settings={"application_name": self._application_name()}
            )
        got = await self._connection.fetchval(
            "SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, self._key
        )
        if got:
            return None
        row = await self._connection.fetchrow(
            "SELECT a.application_name, a.client_addr::text AS addr, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 2",
            LOCK_NAMESPACE,
            self._key,
        )
        if row is None:  # it was let go in between: the next try takes it
            return UNKNOWN
        since = row["backend_start"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        where = f"connected from {row['addr']}" if row["addr"] else "connected locally"
        return Holder(row["application_name"] or "another process", 0, where, since, token="")

    async def renew(self) -> bool:
        try:
            await self._connection.fetchval("SELECT 1")
        except Exception:  # any failure of the connection: its session and lock are gone
            await self.release()
            return False
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)  # the session's locks go with it

    async def close(self) -> None:
        await self.release()


class FilePollerLock:
    """`flock` on a file beside the embedded database, which says who holds it; the system
    lets it go when the process ends, however it ends."""

    def __init__(self, path: Path, me: Holder, retry_s: float) -> None:
        self.path = path
        self.me = me
        self.renew_interval_s = self.retry_interval_s = retry_s
        self._file: Any = None

    async def try_acquire(self) -> Holder | None:
        file = self.path.open("a+")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = Holder.from_json(file.read())
            file.close()
            return holder or UNKNOWN
        file.seek(0)
        file.truncate()
        file.write(self.me.to_json())
        file.flush()
        self._file = file
        return None

    async def renew(self) -> bool:
        return self._file is not None

    async def release(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.truncate(0)
            file.close()  # closing the descriptor lets the lock go

    async def close(self) -> None:
        await self.release()


def lock_file_path(database_url: str, name: str) -> Path:
    """Beside the SQLite file (what one machine's processes share), or in the temporary
    directory for an in-memory database."""
    location = database_url.split("://", 1)[1].split("?", 1)[0]
    if location in ("", ":memory:"):
        return Path(tempfile.gettempdir()) / f"nextup-telegram-poller-{name}.lock"
    return Path(f"{location}.telegram-poller-{name}.lock")
