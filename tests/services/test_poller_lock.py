"""The Telegram poller lock, on each backend the composition root may pick: a file beside
SQLite, a PostgreSQL advisory lock, a Redis key with a TTL. One holder at a time; the one
refused learns who holds it; it takes over once the holder lets go or dies."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from core.storage.poller_lock import (
    FilePollerLock,
    Holder,
    PollerLock,
    PostgresPollerLock,
    RedisPollerLock,
)
from nextup.roles import poll_exclusively
from tests.conftest import database_url, on_postgres, redis_url

Factory = Callable[[str], PollerLock]


def _file(tmp_path: Path) -> Factory:
    return lambda process: FilePollerLock(
        tmp_path / "bot.lock", Holder.this_process(process), retry_s=0.05
    )


def _postgres(name: str) -> Factory:
    url = database_url(Path("."))  # created by the `migrated` fixture
    return lambda process: PostgresPollerLock(url, name, Holder.this_process(process), 0.05)


def _redis(name: str, ttl_s: float = 0.6) -> Factory:
    url = redis_url()
    assert url is not None
    return lambda process: RedisPollerLock(url, name, Holder.this_process(process), ttl_s, 0.05)


@pytest.fixture(params=["file", "postgres", "redis"])
def locks(request: pytest.FixtureRequest, tmp_path: Path, migrated: str) -> Factory:
    name = f"test-{uuid.uuid4().hex[:8]}"  # runs never share a lock
    if request.param == "file":
        return _file(tmp_path)
    if request.param == "postgres" and not on_postgres():
        pytest.skip("PostgreSQL run only")
    if request.param == "redis" and not redis_url():
        pytest.skip("Redis run only")
    return _postgres(name) if request.param == "postgres" else _redis(name)


@pytest.fixture
async def released() -> AsyncIterator[list[PollerLock]]:
    held: list[PollerLock] = []
    yield held
    for lock in held:
        await lock.close()


async def test_one_holder_and_the_other_learns_who(
    locks: Factory, released: list[PollerLock]
) -> None:
    first, second = locks("nextup-bot"), locks("nextup-serve")
    released += [first, second]
    assert await first.try_acquire() is None
    holder = await second.try_acquire()
    assert holder is not None
    assert "nextup-bot" in holder.describe() and "since" in holder.describe()
    assert str(os.getpid()) in holder.describe()
    assert await first.renew()
    assert await second.try_acquire() is not None  # still held

    await first.release()
    assert await second.try_acquire() is None
    assert await first.try_acquire() is not None


async def test_a_redis_lock_outlives_a_dead_holder_by_its_ttl(released: list[PollerLock]) -> None:
    if not redis_url():
        pytest.skip("Redis run only")
    locks = _redis(f"test-{uuid.uuid4().hex[:8]}", ttl_s=0.6)
    dead, waiting = locks("nextup-bot"), locks("nextup-serve")
    released += [waiting]
    assert await dead.try_acquire() is None
    # It dies: it neither renews nor releases. Its lock stays until the TTL runs out.
    await asyncio.sleep(0.3)
    assert await waiting.try_acquire() is not None
    await asyncio.sleep(0.5)
    assert await waiting.try_acquire() is None
    assert not await dead.renew()  # it woke up: the lock is no longer its own
    await dead.close()
    assert await waiting.renew()


async def test_a_postgres_lock_goes_with_its_connection(
    released: list[PollerLock], migrated: str
) -> None:
    if not on_postgres():
        pytest.skip("PostgreSQL run only")
    locks = _postgres(f"test-{uuid.uuid4().hex[:8]}")
    dead, waiting = locks("nextup-bot"), locks("nextup-serve")
    released += [dead, waiting]
    assert await dead.try_acquire() is None
    holder = await waiting.try_acquire()
    assert holder is not None and "nextup-bot pid" in holder.describe()
    assert isinstance(dead, PostgresPollerLock)
    dead._connection.terminate()  # the process died: the server ends its session
    await asyncio.sleep(0.2)
    assert await waiting.try_acquire() is None
    assert not await dead.renew()


async def test_the_second_poller_is_refused_then_takes_over(
    locks: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    polling: list[str] = []

    def poller(name: str) -> Callable[[], asyncio.Future[None]]:
        async def poll() -> None:
            polling.append(name)
            await asyncio.Event().wait()

        return poll  # type: ignore[return-value]

    caplog.set_level(logging.INFO, logger="nextup.roles")
    first = asyncio.create_task(poll_exclusively(locks("nextup-bot"), poller("first")))
    await _until(lambda: polling == ["first"])
    second = asyncio.create_task(poll_exclusively(locks("nextup-serve"), poller("second")))
    await _until(lambda: "already polled by nextup-bot" in caplog.text)
    refusal = next(r for r in caplog.records if "already polled" in r.getMessage())
    assert refusal.levelno == logging.WARNING  # not a sibling worker of the same serve
    assert "takes over if that one stops" in refusal.getMessage()
    assert "NEXTUP_ROLES" in refusal.getMessage()
    assert polling == ["first"]

    first.cancel()  # the first stops (a lock with a TTL: it just stops renewing)
    await asyncio.gather(first, return_exceptions=True)
    await _until(lambda: polling == ["first", "second"], timeout_s=5)
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


async def _until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_poller_that_lost_its_redis_lock_stops_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It stalled past the TTL and another process took the lock: it must not poll on."""
    url = redis_url()
    if not url:
        pytest.skip("Redis run only")
    locks = _redis(f"test-{uuid.uuid4().hex[:8]}", ttl_s=0.6)
    lock = locks("nextup-bot")
    assert isinstance(lock, RedisPollerLock)
    polls: list[asyncio.Event] = []

    async def poll() -> None:
        stopped = asyncio.Event()
        polls.append(stopped)
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    caplog.set_level(logging.INFO, logger="nextup.roles")
    task = asyncio.create_task(poll_exclusively(lock, poll))
    await _until(lambda: len(polls) == 1)
    from redis.asyncio import Redis

    other = Holder.this_process("nextup-serve")
    async with Redis.from_url(url) as redis:
        await redis.set(lock.key, other.to_json(), px=600)  # the other one's now
        await _until(polls[0].is_set)
        assert "lost the Telegram poller lock" in caplog.text
        await _until(lambda: "already polled by nextup-serve" in caplog.text)
        await _until(lambda: len(polls) == 2, timeout_s=5)  # the other one stopped: it is back
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_unreachable_lock_is_retried_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lock's store away (Redis restarting): the bot role waits for it, it does not end."""
    inner = FilePollerLock(tmp_path / "bot.lock", Holder.this_process("nextup-bot"), 0.02)
    failures = [3]

    class Flaky:
        me, renew_interval_s, retry_interval_s = inner.me, 0.02, 0.02

        async def try_acquire(self) -> Holder | None:
            if failures[0]:
                failures[0] -= 1
                raise ConnectionError("store restarting")
            return await inner.try_acquire()

        renew, release, close = inner.renew, inner.release, inner.close

    polled = asyncio.Event()

    async def poll() -> None:
        polled.set()
        await asyncio.Event().wait()

    caplog.set_level(logging.INFO, logger="nextup.roles")
    task = asyncio.create_task(poll_exclusively(Flaky(), poll))
    await asyncio.wait_for(polled.wait(), 3)
    assert caplog.text.count("cannot reach the Telegram poller lock") == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
