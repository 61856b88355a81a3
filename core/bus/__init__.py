"""The event bus: after a commit, events fan out to every subscriber in every process."""

from __future__ import annotations

from typing import Any, Protocol

Message = dict[str, Any]
"""`{"type": ..., "queue": code, "data": {...}}`: the shape websockets also use."""


class Subscription(Protocol):
    async def get(self, timeout_s: float | None = None) -> Message | None:
        """The next message, or None when `timeout_s` passes first."""

    async def close(self) -> None: ...


class EventBus(Protocol):
    async def publish(self, messages: list[Message]) -> None:
        """Deliver to every current subscriber; at most once, never raising on a lost peer."""

    async def subscribe(self) -> Subscription:
        """Subscribed when this returns: every later publish, in any process, reaches it."""

    async def ping(self) -> None:
        """Raises when the bus cannot be reached."""

    async def close(self) -> None: ...
