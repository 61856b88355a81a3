"""Provider limits kept in Redis, so every process sending for one bot or number shares them.

One Lua script checks and books a send in every rule at once (atomic: two processes never
both take the last place in a window), over the times Redis itself gives (`TIME`), so the
processes' clocks do not matter. Each rule is a sorted set of send times under
`nextup:limit:<key>`; a provider's "wait" is `nextup:limit:<key>:paused` (until when).

When Redis does not answer, the process goes on alone with a conservative share of each
limit: one over the number of processes that used the limits in the last
`SENDERS_TTL_S` (each says so every few seconds), or over `UNKNOWN_SENDERS` when it never
reached Redis. It first waits one window, so that the sends the others booked in Redis
have left it, and tries Redis again every `probe_interval_s`; when Redis answers, the sends
it made alone are written there first, so the others see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.delivery.limits import (
    IN_FLIGHT_HOLD_S,
    RECHECK_S,
    Rule,
    SlidingWindows,
    Verdict,
)
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)
PREFIX = "nextup:limit:"
SENDERS_KEY = PREFIX + "senders"
SENDERS_TTL_S = 15.0
HEARTBEAT_S = 1.0
UNKNOWN_SENDERS = 4
"""The share a process takes of each limit when Redis was never reachable: a quarter, as if
it were one of four sending processes (one `serve` and a few workers)."""
IN_FLIGHT_SLACK_S = 1.0
"""Sends in flight when Redis went count until answered: alone, a process waits this much
more than a window before its first send."""
REDIS_TIMEOUT_S = 0.5
"""A Redis that does not answer in this long is taken for down: a send never waits on it."""

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local recheck = tonumber(ARGV[2])
local wait, blocked = 0, 0
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[3 * i])
  local window = tonumber(ARGV[3 * i + 1])
  local w = tonumber(redis.call('GET', key .. ':paused') or '0') - now
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= count then
    local oldest = tonumber(redis.call('ZRANGE', key, n - count, n - count, 'WITHSCORES')[2])
    local w2 = oldest + window - now
    if oldest > now then w2 = recheck end
    if w2 > w then w = w2 end
  end
  if w > wait then wait = w; blocked = i end
end
if wait > 0 then return {blocked, math.ceil(wait)} end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 * i + 1])
  local hold = tonumber(ARGV[3 * i + 2])
  redis.call('ZADD', key, now + hold, ARGV[1])
  redis.call('PEXPIRE', key, math.ceil((window + hold) / 1000) + 1000)
end
return {0, 0}
"""

_ANSWERED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now, ARGV[1])
end
return 1
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local delay = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + delay > current then
  redis.call('SET', KEYS[1], tostring(now + delay), 'PX', math.ceil(delay / 1000) + 1)
end
return 1
"""

_REPLAY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], now - tonumber(ARGV[i]), ARGV[1] .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000) + 1000)
return 1
"""

_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


def _us(seconds: float) -> int:
    return math.ceil(seconds * 1_000_000)


class RedisWindows:
    """The rules in Redis; every call may raise RedisError or OSError."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.token = uuid.uuid4().hex
        self._acquire = client.register_script(_ACQUIRE)
        self._answered = client.register_script(_ANSWERED)
        self._pause = client.register_script(_PAUSE)
        self._replay = client.register_script(_REPLAY)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._sends = 0

    async def acquire(self, rules: Sequence[Rule]) -> Verdict:
        self._sends += 1
        ticket = f"{self.token}:{self._sends}"
        args: list[Any] = [ticket, _us(RECHECK_S)]
        for rule in rules:
            hold_us = _us(IN_FLIGHT_HOLD_S) if rule.until_answered else 0
            args += [rule.count, _us(rule.window_s), hold_us]
        blocked, wait_us = await self._acquire(keys=[PREFIX + r.key for r in rules], args=args)
        if int(blocked) == 0:
            return Verdict(0.0, ticket=ticket)
        return Verdict(int(wait_us) / 1_000_000, rules[int(blocked) - 1])

    async def answered(self, rules: Sequence[Rule], ticket: str) -> None:
        keys = [PREFIX + r.key for r in rules if r.until_answered]
        if keys:
            await self._answered(keys=keys, args=[ticket])

    async def pause(self, key: str, delay_s: float) -> None:
        await self._pause(keys=[PREFIX + key + ":paused"], args=[_us(delay_s)])

    async def replay(self, key: str, window_s: float, ages_s: list[float]) -> None:
        self._sends += 1
        args: list[str | int] = [f"{self.token}:r{self._sends}", _us(window_s)]
        args += [_us(a) for a in ages_s]
        await self._replay(keys=[PREFIX + key], args=args)

    async def heartbeat(self) -> list[str]:
        """Says this process sends; the processes that said so lately, this one among them."""
        senders = await self._heartbeat(keys=[SENDERS_KEY], args=[self.token, _us(SENDERS_TTL_S)])
        return sorted(s.decode() if isinstance(s, bytes) else str(s) for s in senders)


class SharedLimiter:
    """Redis while it answers; a conservative share of each limit in memory while not."""

    def __init__(
        self,
        url: str,
        clock: Callable[[], float] = time.monotonic,
        probe_interval_s: float = 1.0,
    ) -> None:
        client = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self.redis = RedisWindows(client)
        self.clock = clock
        self.probe_interval_s = probe_interval_s
        self.senders: list[str] = []
        """The processes that booked sends lately (their tokens, sorted), at the last look."""
        self.down_since: float | None = None
        self._next_probe = 0.0
        self._alone = SlidingWindows()
        self._alone_windows: dict[str, float] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Says, every HEARTBEAT_S while Redis answers, that this process sends: so the
        others count it, and it knows them, before an outage."""
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat())
            await asyncio.sleep(0)

    async def _beat(self) -> None:
        while True:
            if self.down_since is None:
                with contextlib.suppress(RedisError, OSError):  # a send finds out, falls back
                    self.senders = await self.redis.heartbeat()
            await asyncio.sleep(HEARTBEAT_S)

    @property
    def share(self) -> float:
        """The part of each limit this process takes alone while Redis is down."""
        return 1.0 / (self.senders_seen or UNKNOWN_SENDERS)

    @property
    def senders_seen(self) -> int:
        return len(self.senders)

    def sends_to(self, rule: Rule) -> bool:
        """While Redis is down, whether this process sends under a rule of one send per
        window (a chat, a Twilio number), which cannot be split into shares: each goes to
        one of the processes seen, by a hash of its key, so two processes never write to
        one chat, or from one number, within its interval."""
        if self.redis.token not in self.senders:
            return True  # it never saw the others: it cannot share the recipients out
        rank = self.senders.index(self.redis.token)
        return zlib.crc32(rule.key.encode()) % len(self.senders) == rank

    async def acquire(self, rules: Sequence[Rule]) -> Verdict:
        await self.start()
        now = self.clock()
        if self.down_since is not None and now >= self._next_probe:
            await self._try_redis_again(now)
        if self.down_since is None:
            try:
                return await self.redis.acquire(rules)
            except (RedisError, OSError) as exc:
                self._went_down(now, exc)
        return self._acquire_alone(rules, now)

    def _acquire_alone(self, rules: Sequence[Rule], now: float) -> Verdict:
        assert self.down_since is not None
        for rule in rules:
            if rule.count == 1 and not self.sends_to(rule):
                return Verdict(self.probe_interval_s, rule, elsewhere=True)
        for rule in rules:
            # What the others booked in Redis (and sent, answered a little later) leaves
            # the window before this process sends alone.
            clear_at = self.down_since + rule.window_s + IN_FLIGHT_SLACK_S
            if now < clear_at:
                return Verdict(clear_at - now, rule)
        share = self.share
        for rule in rules:
            self._alone_windows[rule.key] = rule.window_s
        # One send per window is this process's alone (sends_to); more are shared out.
        return self._alone.acquire([r if r.count == 1 else r.scaled(share) for r in rules], now)

    async def answered(self, rules: Sequence[Rule], ticket: str) -> None:
        if ticket.startswith(self.redis.token):
            if self.down_since is not None:
                return  # it keeps its place in Redis until IN_FLIGHT_HOLD_S runs out
            try:
                await self.redis.answered(rules, ticket)
            except (RedisError, OSError) as exc:
                # the send keeps its place in Redis until IN_FLIGHT_HOLD_S runs out
                self._went_down(self.clock(), exc)
        else:
            self._alone.answered(rules, ticket, self.clock())

    async def pause(self, key: str, delay_s: float) -> None:
        self._alone.pause(key, self.clock() + delay_s)  # kept here too, in case Redis goes
        if self.down_since is None:
            try:
                await self.redis.pause(key, delay_s)
            except (RedisError, OSError) as exc:
                self._went_down(self.clock(), exc)

    def _went_down(self, now: float, exc: Exception) -> None:
        if self.down_since is not None:
            return
        self.down_since = now
        self._next_probe = now + self.probe_interval_s
        paused = self._alone.paused_for(now)
        self._alone = SlidingWindows()
        for key, left_s in paused.items():
            self._alone.pause(key, now + left_s)
        self._alone_windows.clear()
        log.warning(
            "Redis unavailable for the provider limits (%s); sending alone at 1/%d of each "
            "limit until it answers",
            exc,
            round(1 / self.share),
        )

    async def _try_redis_again(self, now: float) -> None:
        """Back to Redis, after writing there what this process sent meanwhile."""
        self._next_probe = now + self.probe_interval_s
        try:
            for key, window_s in self._alone_windows.items():
                ages_s = self._alone.recent(key, now, window_s)
                if ages_s:
                    await self.redis.replay(key, window_s, ages_s)
            for key, left_s in self._alone.paused_for(now).items():
                await self.redis.pause(key, left_s)
            self.senders = await self.redis.heartbeat()
        except (RedisError, OSError):
            return
        log.warning("Redis answers again: the provider limits are shared again")
        self.down_since = None

    async def close(self) -> None:
        if self._heartbeat is not None:
            if self._heartbeat.get_loop() is asyncio.get_running_loop():
                await cancel_and_wait([self._heartbeat])
            else:
                self._heartbeat.cancel()
            self._heartbeat = None
        await self.redis.client.aclose()
