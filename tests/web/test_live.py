"""The websocket feeds, end to end over real sockets (and, in the services run, through
Redis): what each audience receives, in what order, and what it never receives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import Api, services_required, wait_for_health
from tests.patient_tokens import with_token
from tests.processes import free_port, start_server, stop
from tests.websocket_refusals import assert_refused
from web.live.hub import CLIENT_BUFFER, Client, ClientKind, LiveHub

NAME, PHONE = "Zebulon Quixote", "+15551230001"


@pytest.fixture
async def tickets(api: Api) -> list[dict[str, Any]]:
    created = await api.call(
        "POST",
        "/api/v1/queues",
        json={"code": "PHARM", "name": "Pharmacy", "prefix": "A", "counters": ["1", "2"]},
    )
    assert created.status_code == 201
    joined = []
    for i in range(3):
        body = {"name": f"{NAME} {i}", "phone": f"{PHONE[:-1]}{i}"}
        response = await api.call("POST", "/api/v1/queues/PHARM/tickets", json=body)
        joined.append(await with_token(response.json()))
    return joined


@asynccontextmanager
async def feed(api: Api, path: str, role: str | None = None) -> AsyncIterator[ClientConnection]:
    headers = api.auth(role) if role else {}
    url = api.base_url.replace("http", "ws") + path
    async with websockets.connect(url, additional_headers=headers) as ws:
        yield ws


async def receive(ws: ClientConnection, until: str, timeout_s: float = 5) -> list[dict[str, Any]]:
    """Messages up to and including the first of type `until`."""
    got = []
    async with asyncio.timeout(timeout_s):
        while True:
            message = json.loads(await ws.recv())
            got.append(message)
            if message["type"] == until:
                return got


async def test_staff_feed_starts_with_a_snapshot_then_every_event(
    api: Api, tickets: list[dict[str, Any]]
) -> None:
    async with feed(api, "/ws/queues/pharm", role="staff") as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot" and snapshot["queue"] == "PHARM"
        assert [t["number"] for t in snapshot["data"]["waiting"]] == ["A-001", "A-002", "A-003"]
        await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "2"})
        messages = await receive(ws, "ticket_called")
        called = messages[-1]["data"]
        assert called["number"] == "A-001" and called["counter"] == "2"
        assert called["actor"] == "staff:admin-user" and called["ticket_id"] == tickets[0]["id"]
        assert called["at"]  # when it was committed: the benchmark measures from it
        # The two tickets behind moved up: one line_moved says so, not one event each; a
        # position_changed only for the patient now first, who is told "getting close".
        moved = await receive(ws, "line_moved")
        assert [m["type"] for m in moved] == ["position_changed", "line_moved"]
        close = moved[0]["data"]
        assert (close["number"], close["old_position"], close["new_position"]) == ("A-002", 2, 1)
        assert moved[1]["queue"] == "PHARM" and moved[1]["data"]["waiting"] == 2
        await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
        messages = await receive(ws, "line_moved")
        assert [m["type"] for m in messages] == ["ticket_called", "position_changed", "line_moved"]
        assert messages[-1]["data"]["waiting"] == 1


async def test_display_feed_never_carries_names_phones_staff_or_ids(
    api: Api, tickets: list[dict[str, Any]]
) -> None:
    async with feed(api, "/ws/queues/PHARM") as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "display"
        assert first["data"]["next"] == ["A-001", "A-002", "A-003"]
        await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
        await api.call("POST", f"/api/v1/tickets/{tickets[0]['id']}/recall")
        messages = await receive(ws, "ticket_recalled")
        if "display" not in {m["type"] for m in messages}:
            messages += await receive(ws, "display")  # one round covered both commands
        snapshot = [m for m in messages if m["type"] == "display"][-1]
        assert snapshot["data"]["called"][0] | {"called_at": None} == {
            "number": "A-001",
            "counter": "1",
            "status": "called",
            "called_at": None,
        }
        assert snapshot["data"]["next"] == ["A-002", "A-003"]
        called = next(m for m in messages if m["type"] == "ticket_called")
        assert set(called["data"]) <= {"number", "counter", "at", "to_status"}
        everything = json.dumps([first, *messages])
        for secret in (NAME, PHONE[:-1], "admin-user", tickets[0]["id"], tickets[0]["token"]):
            assert secret not in everything


async def test_patient_feed_follows_only_their_own_ticket(
    api: Api, tickets: list[dict[str, Any]]
) -> None:
    last = tickets[2]
    async with feed(api, f"/ws/tickets/{last['token']}") as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "ticket"
        assert first["data"]["number"] == "A-003" and first["data"]["position"] == 3
        await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
        update = (await receive(ws, "ticket"))[-1]
        assert update["data"]["position"] == 2
        await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "2"})
        await api.call("POST", f"/api/v1/tickets/{tickets[0]['id']}/start")
        await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
        while update["data"]["status"] != "called":
            update = (await receive(ws, "ticket"))[-1]
        assert update["data"]["counter"] == "1"
        await api.call("POST", f"/api/v1/tickets/{last['id']}/start")
        await api.call("POST", f"/api/v1/tickets/{last['id']}/complete")
        while update["data"]["status"] != "done":  # finished: no longer in the live queue
            update = (await receive(ws, "ticket"))[-1]
    assert set(update["data"]) == {
        "queue", "number", "status", "position", "eta_s", "eta_low_s", "eta_high_s",
        "counter", "joined_at", "called_at", "service", "event_at",
    }  # fmt: skip


async def test_a_patient_page_follows_its_ticket_to_the_queue_it_is_transferred_to(
    api: Api, tickets: list[dict[str, Any]]
) -> None:
    lab = {"code": "LAB", "name": "Laboratory", "prefix": "L", "counters": ["1"]}
    assert (await api.call("POST", "/api/v1/queues", json=lab)).status_code == 201
    async with feed(api, f"/ws/tickets/{tickets[1]['token']}") as ws:
        assert json.loads(await ws.recv())["data"]["queue"] == "PHARM"
        moved = await api.call(
            "POST", f"/api/v1/tickets/{tickets[1]['id']}/transfer", json={"queue": "LAB"}
        )
        assert moved.status_code == 200
        update = (await receive(ws, "ticket"))[-1]
        while update["data"]["queue"] != "LAB":
            update = (await receive(ws, "ticket"))[-1]
        assert update["data"]["status"] == "waiting"
        await api.call("POST", "/api/v1/queues/LAB/call-next", json={"counter": "1"})
        while update["data"]["status"] != "called":
            update = (await receive(ws, "ticket"))[-1]
        assert update["queue"] == "LAB" and update["data"]["counter"] == "1"


async def test_unknown_queue_or_ticket_is_refused_with_a_reason(api: Api) -> None:
    for path, code in (
        ("/ws/queues/NOPE", "queue_not_found"),
        ("/ws/tickets/x", "ticket_not_found"),
    ):
        async with feed(api, path) as ws:
            await assert_refused(ws, code)


@dataclass
class Reads:
    """Counts the queue reads the app makes, by wrapping its QueueService's."""

    status: int = 0
    ticket_view: int = 0

    def install(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        queues = api.app.ctx.container.queues
        for name in ("status", "ticket_view"):
            monkeypatch.setattr(queues, name, self._counted(name, getattr(queues, name)))

    def _counted(self, name: str, read: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            setattr(self, name, getattr(self, name) + 1)
            return await read(*args, **kwargs)

        return counted


async def kept_state(api: Api) -> None:
    """Waits until the hub holds the queue's current state (its first read is done)."""
    live: LiveHub = api.app.ctx.live
    for _ in range(500):
        if live.current_status("PHARM") is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the hub never read the queue")


async def test_connecting_clients_get_the_kept_state_without_a_read(
    api: Api, tickets: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with feed(api, "/ws/queues/PHARM") as first:
        await first.recv()
        await kept_state(api)
        reads = Reads()
        reads.install(api, monkeypatch)
        async with (
            feed(api, "/ws/queues/PHARM") as display,
            feed(api, f"/ws/tickets/{tickets[1]['token']}") as patient,
            feed(api, "/ws/queues/PHARM", role="staff") as staff,
        ):
            assert json.loads(await display.recv())["data"]["next"] == ["A-001", "A-002", "A-003"]
            page = json.loads(await patient.recv())
            assert page["type"] == "ticket" and page["data"]["position"] == 2
            snapshot = json.loads(await staff.recv())
            assert [t["number"] for t in snapshot["data"]["waiting"]] == ["A-001", "A-002", "A-003"]
    assert reads == Reads(status=0, ticket_view=0)


async def test_a_command_here_updates_pages_from_its_own_state_without_a_read(
    api: Api, tickets: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        feed(api, "/ws/queues/PHARM") as display,
        feed(api, f"/ws/tickets/{tickets[2]['token']}") as patient,
    ):
        await display.recv()
        await patient.recv()
        await kept_state(api)
        reads = Reads()
        reads.install(api, monkeypatch)
        await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
        messages = await receive(display, "display")
        assert [m["type"] for m in messages] == ["ticket_called", "display"]  # chime, then state
        assert messages[-1]["data"]["next"] == ["A-002", "A-003"]
        assert messages[-1]["data"]["event_at"] == messages[0]["data"]["at"]
        assert (await receive(patient, "ticket"))[-1]["data"]["position"] == 2
    assert reads.status == 0


async def test_events_from_another_process_are_read_once_per_burst(
    api: Api, tickets: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with feed(api, "/ws/queues/PHARM") as display:
        await display.recv()
        await kept_state(api)
        reads = Reads()
        reads.install(api, monkeypatch)
        # Another process commits a burst: here only its events arrive, through the bus.
        burst = [
            {
                "type": "ticket_joined",
                "queue": "PHARM",
                "data": {"ticket_id": f"elsewhere-{n}", "number": f"A-10{n}", "at": f"T{n}"},
            }
            for n in range(5)
        ]
        await api.app.ctx.container.bus.publish(burst)
        messages = await receive(display, "display")
        assert [m["data"]["number"] for m in messages[:-1]] == [f"A-10{n}" for n in range(5)]
        assert messages[-1]["data"]["event_at"] == "T4"
        assert api.app.ctx.live.current_status("PHARM") is not None
    assert reads.status == 1


async def test_a_call_made_by_another_process_reaches_the_displays_here_after_one_read(
    api: Api, tickets: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services_required()
    port = free_port()
    settings = api.app.ctx.container.settings
    other = start_server(
        tmp_path, port, database_url=settings.database_url, redis_url=settings.redis_url
    )
    try:
        await wait_for_health(f"http://127.0.0.1:{port}")
        async with feed(api, "/ws/queues/PHARM") as display:
            await display.recv()
            await kept_state(api)
            reads = Reads()
            reads.install(api, monkeypatch)
            async with httpx.AsyncClient(timeout=10, headers=api.auth("staff")) as client:
                called = await client.post(
                    f"http://127.0.0.1:{port}/api/v1/queues/PHARM/call-next",
                    json={"counter": "2"},
                )
            assert called.status_code == 200, called.text
            messages = await receive(display, "display", timeout_s=10)
            assert "ticket_called" in {m["type"] for m in messages}
            assert messages[-1]["data"]["called"][0]["number"] == "A-001"
            assert messages[-1]["data"]["next"] == ["A-002", "A-003"]
        assert reads.status == 1  # one for the command's events together
    finally:
        stop(other)


async def test_ping_is_answered(api: Api, tickets: list[dict[str, Any]]) -> None:
    async with feed(api, "/ws/queues/PHARM") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "ping"}))
        assert (await receive(ws, "pong"))[-1] == {"type": "pong"}


async def test_what_one_turn_offers_a_client_goes_out_in_one_write() -> None:
    writes: list[list[str]] = []

    def write_now(texts: list[str]) -> bool:
        writes.append(list(texts))
        return True

    client = Client(ClientKind.DISPLAY, "PHARM")
    client.write_now = write_now
    client.offer("a")
    client.offer("b")
    assert writes == []  # after the round, not during it
    await asyncio.sleep(0)
    assert writes == [["a", "b"]] and client.outbox == [] and not client.pending.is_set()


async def test_what_the_socket_cannot_take_at_once_is_left_to_the_writer_task() -> None:
    client = Client(ClientKind.DISPLAY, "PHARM")
    client.write_now = lambda texts: False  # the socket's buffer is full
    client.offer("a")
    await asyncio.sleep(0)
    client.offer("b")
    await asyncio.sleep(0)
    assert client.outbox == ["a", "b"] and client.pending.is_set()


async def test_a_client_that_cannot_keep_up_is_cut_off_not_silently_skipped() -> None:
    client = Client(ClientKind.DISPLAY, "PHARM")
    for i in range(CLIENT_BUFFER):
        client.offer(str(i))
    assert len(client.outbox) == CLIENT_BUFFER and not client.pending.is_set()
    client.offer("one too many")
    assert client.too_slow and client.closing  # the writer closes the socket with 1013
    assert client.pending.is_set() and client.outbox == []
    client.offer("later")
    assert client.outbox == []
