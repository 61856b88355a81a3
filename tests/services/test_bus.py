"""The event bus: in-process by default, Redis pub/sub across processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from core.bus.memory import InProcessBus
from core.bus.redis import RedisBus
from core.domain.errors import QueueEmpty
from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from nextup.wiring import Container
from tests.conftest import Api, redis_url, services_required, wait_for_health
from tests.processes import free_port, start_server, stop


async def test_events_are_published_after_commit(container: Container) -> None:
    subscription = await container.bus.subscribe()
    try:
        await container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
        joined = await container.queues.join("PHARM", new_join_request(priority=1), "staff:ana")
        message = await subscription.get(timeout_s=5)
        assert message is not None
        assert message["type"] == "ticket_joined"
        assert message["queue"] == "PHARM"
        assert message["data"]["ticket_id"] == joined.ticket.id
        assert message["data"]["number"] == "A-001"
        assert message["data"]["actor"] == "staff:ana"
        moved = await subscription.get(timeout_s=5)
        assert moved is not None and moved["type"] == "line_moved"
        assert moved["data"]["waiting"] == 1
        await container.queues.call_next("PHARM", "1", "staff:ana")
        called = await subscription.get(timeout_s=5)
        assert called is not None and called["type"] == "ticket_called"
        assert called["data"]["counter"] == "1"
    finally:
        await subscription.close()


async def test_a_call_in_a_long_line_publishes_one_line_moved(container: Container) -> None:
    await container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
    for _ in range(40):
        await container.queues.join("PHARM", new_join_request(), "kiosk")
    subscription = await container.bus.subscribe()
    try:
        await container.queues.call_next("PHARM", "1", "staff:ana")
        messages = []
        while (message := await subscription.get(timeout_s=0.5)) is not None:
            messages.append(message)
        assert [m["type"] for m in messages] == ["ticket_called", "line_moved"]
        assert messages[1]["queue"] == "PHARM"
        assert messages[1]["data"] | {"at": None} == {
            "queue": "PHARM",
            "at": None,
            "actor": "staff:ana",
            "waiting": 39,
        }
    finally:
        await subscription.close()


async def test_failed_command_publishes_nothing(container: Container) -> None:
    await container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
    subscription = await container.bus.subscribe()
    try:
        with pytest.raises(QueueEmpty):
            await container.queues.call_next("PHARM", "1", "staff:ana")
        assert await subscription.get(timeout_s=0.3) is None
    finally:
        await subscription.close()


async def test_in_process_bus_fans_out_to_every_subscriber() -> None:
    bus = InProcessBus()
    first, second = await bus.subscribe(), await bus.subscribe()
    await bus.publish([{"type": "x", "queue": "Q", "data": {}}])
    assert await first.get(timeout_s=1) == {"type": "x", "queue": "Q", "data": {}}
    assert await second.get(timeout_s=1) == {"type": "x", "queue": "Q", "data": {}}
    await first.close()
    await bus.publish([{"type": "y", "queue": "Q", "data": {}}])
    assert (await second.get(timeout_s=1) or {})["type"] == "y"
    assert await first.get(timeout_s=0.1) is None


async def test_redis_buses_on_different_databases_do_not_hear_each_other() -> None:
    """Pub/sub is global to a Redis server; two deployments on databases 14 and 15 of one
    server must stay apart (as two test suites running at once must)."""
    services_required()
    url = redis_url()
    assert url is not None
    base, _, _ = url.rpartition("/")
    here, elsewhere = RedisBus(f"{base}/14"), RedisBus(f"{base}/13")
    near, far = await here.subscribe(), await elsewhere.subscribe()
    try:
        await here.publish([{"type": "x", "queue": "Q", "data": {}}])
        assert (await near.get(timeout_s=1) or {}).get("type") == "x"
        assert await far.get(timeout_s=0.3) is None
    finally:
        for closing in (near, far, here, elsewhere):
            await closing.close()


async def test_join_in_one_process_reaches_a_subscriber_in_another(
    api: Api, container: Container, tmp_path: Path
) -> None:
    """A `nextup serve` process joins a ticket; this test process, subscribed to the same
    Redis, sees the event."""
    services_required()
    url = redis_url()
    assert url is not None
    await container.queues.create_queue("LAB", "Blood tests", "L", QueueConfig(), ["1"])
    listener = RedisBus(url)
    subscription = await listener.subscribe()
    port = free_port()
    server = start_server(
        tmp_path, port, database_url=container.settings.database_url, redis_url=url
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_for_health(base)
        async with httpx.AsyncClient(timeout=10, headers=api.auth("staff")) as client:
            response = await client.post(f"{base}/api/v1/queues/LAB/tickets", json={})
        assert response.status_code == 201, response.text
        message = await subscription.get(timeout_s=5)
        assert message is not None
        assert message["type"] == "ticket_joined"
        assert message["queue"] == "LAB"
        assert message["data"]["ticket_id"] == response.json()["id"]
    finally:
        stop(server)
        await subscription.close()
        await listener.close()


async def test_a_wait_cancelled_as_a_message_arrives_stays_cancelled() -> None:
    """A server stopping (SIGTERM) cancels the dispatcher's wait on the bus. Python 3.11's
    `asyncio.wait_for` returns the message instead when it arrives in the same turn of the
    loop, and the listener then waits on forever: `serve` never exited."""
    bus = InProcessBus()
    subscription = await bus.subscribe()
    waiting = asyncio.create_task(subscription.get(timeout_s=30))
    await asyncio.sleep(0)  # now blocked on the empty inbox
    await bus.publish([{"type": "ticket_called", "queue": "PHARM", "data": {}}])
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
