"""A ticket its call ladder could not reach: staff see it on the board, live, and on the
ticket (the ladder itself is tested end to end in tests/sms/test_ladder.py)."""

from __future__ import annotations

from datetime import datetime

from nextup.wiring import Container
from tests.conftest import Api
from tests.web.sessions import console_client
from tests.web.test_live import feed, receive


async def test_the_board_shows_an_unreachable_ticket_live(api: Api, container: Container) -> None:
    created = await api.call(
        "POST",
        "/api/v1/queues",
        json={"code": "PHARM", "name": "Pharmacy", "prefix": "A", "counters": ["1"]},
    )
    assert created.status_code == 201, created.text
    joined = await api.call(
        "POST", "/api/v1/queues/PHARM/tickets", json={"name": "Ana", "phone": "+15551230001"}
    )
    ticket_id = joined.json()["id"]
    called = await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
    assert called.status_code == 200, called.text
    async with console_client(api, "staff") as client:
        board = (await client.get("/console/queues/PHARM/board")).text
        assert "⚠ unreachable" not in board

        async with feed(api, "/ws/queues/pharm", role="staff") as ws:
            await receive(ws, "snapshot")
            call_at = datetime.fromisoformat(called.json()["called_at"])
            assert await container.queues.mark_unreachable(ticket_id, call_at)
            [event] = (await receive(ws, "ticket_unreachable"))[-1:]
        assert event["data"]["ticket_id"] == ticket_id and event["data"]["counter"] == "1"
        assert event["data"]["actor"] == "system"
        board = (await client.get("/console/queues/PHARM/board")).text
        assert "⚠ unreachable" in board
    ticket = (await api.call("GET", f"/api/v1/tickets/{ticket_id}")).json()
    assert ticket["unreachable_at"] is not None
    assert "ticket_unreachable" in [e["type"] for e in ticket["history"]]
    # A second dispatcher deciding the same changes nothing.
    assert not await container.queues.mark_unreachable(ticket_id, call_at)
