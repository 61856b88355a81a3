"""Shared builders for the pure queue domain tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from core.domain.model import Counter, QueueConfig, Ticket
from core.domain.queue import JoinRequest, Queue

MakeQueue = Callable[..., Queue]
Join = Callable[..., Ticket]


def build_queue(
    code: str = "A",
    prefix: str | None = None,
    counters: tuple[str, ...] = ("1", "2"),
    **config: Any,
) -> Queue:
    """A queue with open counters; keyword arguments go to QueueConfig."""
    return Queue(
        code=code,
        prefix=prefix or code,
        config=QueueConfig(**config),
        counters={name: Counter(name) for name in counters},
    )


def join_ticket(
    queue: Queue,
    ticket_id: str,
    at: datetime,
    priority: int = 0,
    appointment_at: datetime | None = None,
    **extra: Any,
) -> Ticket:
    request = JoinRequest(
        ticket_id=ticket_id,
        token=f"tok-{ticket_id}",
        priority=priority,
        appointment_at=appointment_at,
        **extra,
    )
    return queue.join(request, at, "tester")


@pytest.fixture
def make_queue() -> MakeQueue:
    return build_queue


@pytest.fixture
def join() -> Join:
    return join_ticket
