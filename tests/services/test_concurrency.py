"""Call-next under concurrency. On PostgreSQL the queue row lock (SELECT ... FOR UPDATE)
serialises commands on one queue across connections and processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from nextup.wiring import Container
from tests.conftest import Api, services_required, wait_for_health
from tests.processes import free_port, start_server, stop


async def fill_queue(container: Container, tickets: int, counters: int = 5) -> list[str]:
    await container.queues.create_queue(
        "PHARM", "Pharmacy", "A", QueueConfig(), [str(i) for i in range(1, counters + 1)]
    )
    ids = []
    for _ in range(tickets):
        joined = await container.queues.join("PHARM", new_join_request(), "test")
        ids.append(joined.ticket.id)
    return ids


async def test_50_concurrent_call_next_call_each_ticket_once(
    api: Api, container: Container
) -> None:
    services_required()
    joined = await fill_queue(container, 50, counters=50)  # one patient per counter

    async def call(i: int) -> httpx.Response:
        return await api.call(
            "POST",
            "/api/v1/queues/PHARM/call-next",
            role="pharmacist",
            json={"counter": str(i + 1)},
        )

    responses = await asyncio.gather(*(call(i) for i in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    called = [r.json()["id"] for r in responses]
    assert sorted(called) == sorted(joined), "every ticket called exactly once"
    empty = await call(0)
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "queue_empty"
    status = (await api.call("GET", "/api/v1/queues/PHARM/status")).json()
    assert status["size"] == 0 and len(status["serving"]) == 50


async def test_two_server_processes_never_call_the_same_ticket(
    api: Api, container: Container, tmp_path: Path
) -> None:
    """Two `nextup serve` processes on one database, 40 call-nexts split between them."""
    services_required()
    joined = await fill_queue(container, 40, counters=40)  # one patient per counter
    settings = {
        "database_url": container.settings.database_url,
        "redis_url": container.settings.redis_url or "",
    }
    servers, bases = [], []
    for port in (free_port(), free_port()):
        servers.append(start_server(tmp_path, port, **settings))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base in bases:
            await wait_for_health(base)
        async with httpx.AsyncClient(timeout=20, headers=api.auth("staff")) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"{bases[i % 2]}/api/v1/queues/PHARM/call-next",
                        json={"counter": str(i + 1)},
                    )
                    for i in range(40)
                )
            )
        assert [r.status_code for r in responses] == [200] * 40
        assert sorted(r.json()["id"] for r in responses) == sorted(joined)
    finally:
        for server in servers:
            stop(server)
