"""In-process bus: the embedded default, for one process."""

from __future__ import annotations

import asyncio
import logging

from core.bus import Message

log = logging.getLogger(__name__)
SUBSCRIBER_BUFFER = 1000


class InProcessSubscription:
    def __init__(self, bus: InProcessBus) -> None:
        self._bus = bus
        self.inbox: asyncio.Queue[Message] = asyncio.Queue(SUBSCRIBER_BUFFER)

    async def get(self, timeout_s: float | None = None) -> Message | None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that lands
        # as a message arrives, and a stopping server's listener then never stops.
        try:
            async with asyncio.timeout(timeout_s):
                return await self.inbox.get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        self._bus.subscriptions.discard(self)


class InProcessBus:
    def __init__(self) -> None:
        self.subscriptions: set[InProcessSubscription] = set()

    async def publish(self, messages: list[Message]) -> None:
        for subscription in list(self.subscriptions):
            try:
                for message in messages:
                    subscription.inbox.put_nowait(message)
            except asyncio.QueueFull:
                # Like Redis with a slow subscriber: drop for it; the outbox poll catches up.
                log.warning("bus subscriber is %d messages behind; dropping", SUBSCRIBER_BUFFER)

    async def subscribe(self) -> InProcessSubscription:
        subscription = InProcessSubscription(self)
        self.subscriptions.add(subscription)
        return subscription

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.subscriptions.clear()
