"""Provider limits kept in Redis: two limiters (as two processes would) share one limit, a
provider's "wait" reaches both, and a Redis outage falls back to a share of the limit."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.delivery.limits import Rule, telegram_limits
from core.delivery.shared_limits import IN_FLIGHT_SLACK_S, UNKNOWN_SENDERS, SharedLimiter
from tests.conftest import redis_url
from tests.redis_server import PrivateRedis
from tests.unit.delivery.test_limits import most_in_window


def shared_redis() -> str:
    url = redis_url()
    if url is None:
        pytest.skip("needs Redis: set NEXTUP_TEST_REDIS_URL")
    return url


@pytest.fixture
async def two_limiters() -> AsyncIterator[tuple[SharedLimiter, SharedLimiter]]:
    url = shared_redis()
    first, second = SharedLimiter(url), SharedLimiter(url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def hammer(
    limiter: SharedLimiter, bot: str, chats: int, until: float, granted: list[tuple[float, int]]
) -> None:
    """Sends to a random chat as fast as one caller can, sleeping as told when refused; a
    send reaches the provider a random while after its booking and is answered a random
    while after that (as over a jittery network)."""
    limits = telegram_limits(bot)
    rng = random.Random(id(limiter))
    while time.monotonic() < until:
        chat = rng.randrange(chats)
        [(_, rules)] = limits.choices(str(chat))
        verdict = await limiter.acquire(rules)
        if verdict.ticket is not None:
            await asyncio.sleep(rng.uniform(0, 0.03))
            granted.append((time.monotonic(), chat))  # when the provider saw it
            await asyncio.sleep(rng.uniform(0, 0.01))
            await limiter.answered(rules, verdict.ticket)
        elif verdict.blocked_by is not None and not verdict.blocked_by.per_recipient:
            await asyncio.sleep(verdict.wait_s)


async def test_two_limiters_never_exceed_the_limit_together(
    two_limiters: tuple[SharedLimiter, SharedLimiter],
) -> None:
    bot = uuid.uuid4().hex  # keys of its own: earlier runs do not count
    granted: list[tuple[float, int]] = []
    until = time.monotonic() + 3.0
    await asyncio.gather(
        *(hammer(limiter, bot, 60, until, granted) for limiter in two_limiters for _ in range(8))
    )
    times = [t for t, _ in granted]
    assert most_in_window(times, 1.0) <= 30
    for chat in {c for _, c in granted}:
        assert most_in_window([t for t, c in granted if c == chat], 1.0) <= 1
    assert len(granted) >= 0.85 * 3 * 30  # together they still use most of the limit


async def test_a_pause_told_to_one_limiter_holds_the_other(
    two_limiters: tuple[SharedLimiter, SharedLimiter],
) -> None:
    first, second = two_limiters
    limits = telegram_limits(uuid.uuid4().hex)
    [(_, rules)] = limits.choices("7")
    await first.pause(limits.identity, 2.0)
    verdict = await second.acquire(rules)
    assert not verdict.granted and 1.9 <= verdict.wait_s <= 2.0
    assert verdict.blocked_by == rules[0]


async def test_a_redis_outage_falls_back_to_a_share_and_recovers(tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)
    redis.start()
    first = SharedLimiter(redis.url, probe_interval_s=0.2)
    second = SharedLimiter(redis.url, probe_interval_s=0.2)
    rule = Rule("bot", 30, 1.0)
    try:
        assert (await first.acquire([rule])).granted
        assert (await second.acquire([rule])).granted
        await asyncio.sleep(0.2)  # their first heartbeats
        assert second.senders_seen == 2  # both said they send
        chats = [Rule(f"telegram:1:to:{n}", 1, 1.0, per_recipient=True) for n in range(40)]
        first.senders = second.senders  # what first would see at its next look
        mine = [second.sends_to(chat) for chat in chats]
        assert mine == [not first.sends_to(chat) for chat in chats]  # each chat to one
        assert 10 <= sum(mine) <= 30
        redis.stop()

        verdict = await second.acquire([rule])  # alone now: Redis' sends leave the window
        assert second.down_since is not None
        wait_s = rule.window_s + IN_FLIGHT_SLACK_S
        assert not verdict.granted and wait_s - 0.1 <= verdict.wait_s <= wait_s
        await asyncio.sleep(verdict.wait_s)
        alone = [(await second.acquire([rule])).granted for _ in range(30)]
        assert sum(alone) == 15  # half of the limit: one of the two senders it saw
        not_mine = chats[mine.index(False)]
        assert (await second.acquire([not_mine])).elsewhere

        redis.start()  # empty: the sends made alone are written back to it
        await asyncio.sleep(0.25)
        assert (await second.acquire([rule])).granted
        assert second.down_since is None
        together = [(await first.acquire([rule])).granted for _ in range(30)]
        assert sum(together) == 30 - 16
    finally:
        await first.close()
        await second.close()
        redis.stop()


async def test_a_limiter_that_never_reached_redis_takes_a_small_share(tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)  # never started
    limiter = SharedLimiter(redis.url)
    try:
        rule = Rule("bot", 40, 0.2)
        verdict = await limiter.acquire([rule])
        assert not verdict.granted
        assert verdict.wait_s == pytest.approx(0.2 + IN_FLIGHT_SLACK_S, abs=0.05)
        await asyncio.sleep(verdict.wait_s)
        granted = [(await limiter.acquire([rule])).granted for _ in range(40)]
        assert sum(granted) == 40 // UNKNOWN_SENDERS
    finally:
        await limiter.close()
