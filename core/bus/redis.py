"""Redis pub/sub bus: every `nextup` process sees every other's events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from core.bus import Message

log = logging.getLogger(__name__)
CHANNEL = "nextup:events"


def channel_for(url: str) -> str:
    """Redis pub/sub ignores database numbers: two deployments (or two test suites) sharing
    one Redis on different databases would hear each other's events. The channel carries the
    database number so that they don't."""
    db = aioredis.Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    return f"{CHANNEL}:db{db}"


class RedisSubscription:
    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def get(self, timeout_s: float | None = None) -> Message | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            left_s = None if deadline is None else max(0.0, deadline - loop.time())
            raw = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left_s)
            if raw is not None and raw.get("type") == "message":
                message: Message = json.loads(raw["data"])
                return message
            if deadline is not None and loop.time() >= deadline:
                return None

    async def close(self) -> None:
        # redis 8.2 annotates aclose, 8.1 did not: the ignore holds for both
        await _bounded(self._pubsub.aclose())  # type: ignore[no-untyped-call, unused-ignore]


class RedisBus:
    def __init__(self, url: str, channel: str | None = None) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._channel = channel or channel_for(url)

    async def publish(self, messages: list[Message]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.publish(self._channel, json.dumps(message))
                await pipe.execute()
        except RedisError:
            # The outbox is the source of truth and dispatchers poll it: nothing is lost.
            log.exception("could not publish %d events to Redis", len(messages))

    async def subscribe(self) -> RedisSubscription:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        return RedisSubscription(pubsub)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await _bounded(self._redis.aclose())


CLOSE_TIMEOUT_S = 2.0


async def _bounded(closing: Awaitable[object]) -> None:
    """Closing a connection waits for the socket to shut; a dead peer must not make that
    wait forever (it would hold up a process's shutdown)."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await closing
    except TimeoutError:
        log.warning("a Redis connection did not close within %.0f s; dropped", CLOSE_TIMEOUT_S)
