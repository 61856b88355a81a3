"""One patient per counter over HTTP: call-next finishes the visit being served at the
counter, refuses with 409 counter_busy while the one called there has not arrived; and
"complete" on a called ticket starts and completes it, both in its history."""

from __future__ import annotations

from tests.api.helpers import API, act_ok, assert_error, call_next, create_queue, join, ticket
from tests.conftest import Api, FakeClock


async def test_call_next_at_a_busy_counter(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1", "2"])
    first, second, third = [await join(api, name=n) for n in ("Ana", "Bo", "Cy")]
    assert (await call_next(api, counter="2"))["id"] == first["id"]

    # called and not here yet: the counter is held, nobody else is sent to it
    r = await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "2"})
    error = assert_error(r, 409, "counter_busy")
    assert error["details"] == {
        "queue": "PHARM",
        "counter": "2",
        "ticket_id": first["id"],
        "number": first["number"],
    }
    assert first["number"] in error["message"]
    assert (await ticket(api, second["id"]))["status"] == "waiting"

    # the patient arrives; the next call at that counter finishes their visit first
    await act_ok(api, first["id"], "start")
    clock.advance(minutes=4)
    called = await call_next(api, counter="2", role="pharmacist")
    assert (called["id"], called["counter"]) == (second["id"], "2")
    done = await ticket(api, first["id"])
    assert (done["status"], done["finished_at"]) == ("done", clock.now.isoformat())
    completed = [e for e in done["history"] if e["type"] == "ticket_completed"]
    assert [(e["actor"], e["counter"]) for e in completed] == [("staff:pharmacist-user", "2")]
    # the other counter was free all along
    assert (await call_next(api, counter="1"))["id"] == third["id"]


async def test_complete_a_called_ticket_starts_and_completes_it(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM")
    t = await join(api)
    await call_next(api, counter="1")
    clock.advance(minutes=3)
    done = await act_ok(api, t["id"], "complete", role="pharmacist")
    assert done["status"] == "done"
    assert done["started_at"] == done["finished_at"] == clock.now.isoformat()
    history = (await ticket(api, t["id"]))["history"]
    steps = [
        (e["type"], e["from_status"], e["to_status"], e["actor"])
        for e in history
        if e["type"] in ("ticket_started", "ticket_completed")
    ]
    assert steps == [
        ("ticket_started", "called", "serving", "staff:pharmacist-user"),
        ("ticket_completed", "serving", "done", "staff:pharmacist-user"),
    ]


async def test_the_contract_lists_counter_busy(api: Api) -> None:
    spec = (await api.call("GET", "/openapi.json")).json()
    responses = spec["paths"]["/api/v1/queues/{code}/call-next"]["post"]["responses"]
    assert "counter_busy" in responses["409"]["description"]
