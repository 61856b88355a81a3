"""One ticket: reading it with its history, acting on it, and the patient's public view."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from tests.api.helpers import (
    API,
    act,
    act_ok,
    assert_error,
    call_next,
    create_queue,
    join,
    status,
    ticket,
)
from tests.conftest import Api, FakeClock
from tests.patient_tokens import with_token

ACTIONS = ("call", "recall", "start", "complete", "no-show", "cancel", "transfer", "return")
BODIES: dict[str, dict[str, str]] = {"call": {"counter": "1"}, "transfer": {"queue": "OTHER"}}
LEGAL: dict[str, dict[str, str]] = {
    "waiting": {"call": "called", "cancel": "cancelled", "transfer": "waiting"},
    "called": {
        "recall": "called",
        "start": "serving",
        "complete": "done",  # started and completed at once
        "no-show": "no_show",
        "return": "waiting",
        "transfer": "waiting",
    },
    "serving": {"complete": "done", "transfer": "waiting"},
    "done": {},
    "cancelled": {},
    "no_show": {"return": "waiting"},
}
"""state -> {action: resulting state}, from the contract's life cycle; the rest are illegal."""
PATHS = {
    "waiting": [],
    "called": ["call"],
    "serving": ["call", "start"],
    "done": ["call", "start", "complete"],
    "cancelled": ["cancel"],
    "no_show": ["call", "no-show"],
}


async def ticket_in(api: Api, state: str, code: str = "PHARM") -> dict[str, Any]:
    t = await join(api, code)
    for action in PATHS[state]:
        t = await act_ok(api, t["id"], action, **BODIES.get(action, {}))
    assert t["status"] == state
    return t


def history_types(t: dict[str, Any]) -> list[str]:
    return [e["type"] for e in t["history"]]


# -- the life cycle ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(LEGAL))
async def test_legal_actions_succeed_and_illegal_ones_conflict(api: Api, state: str) -> None:
    await create_queue(api, "PHARM")
    await create_queue(api, "OTHER", prefix="O")
    for action in ACTIONS:
        t = await ticket_in(api, state)
        before = await ticket(api, t["id"])
        r = await act(api, t["id"], action, **BODIES.get(action, {}))
        if action in LEGAL[state]:
            assert r.status_code == 200, (state, action, r.text)
            assert r.json()["status"] == LEGAL[state][action], (state, action)
            after = await ticket(api, t["id"])
            assert after["status"] == LEGAL[state][action]
            assert len(after["history"]) > len(before["history"])
        else:
            error = assert_error(r, 409, "illegal_transition")
            assert action in error["message"] and t["number"] in error["message"], error
            assert await ticket(api, t["id"]) == before, (state, action)


async def test_full_visit_with_times_counter_and_history(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1", "2"])
    t0 = clock.now
    t = await join(api, role="staff")

    clock.advance(minutes=4)
    called = await act_ok(api, t["id"], "call", role="pharmacist", counter="2")
    assert called["status"] == "called"
    assert called["counter"] == "2"
    assert called["called_at"] == clock.now.isoformat()
    assert called["position"] is None
    assert called["recall_count"] == 0

    clock.advance(minutes=1)
    assert (await act_ok(api, t["id"], "recall", role="pharmacist"))["recall_count"] == 1
    clock.advance(minutes=1)
    recalled = await act_ok(api, t["id"], "recall", role="staff")
    assert recalled["recall_count"] == 2
    assert recalled["status"] == "called" and recalled["counter"] == "2"

    clock.advance(minutes=1)
    started = await act_ok(api, t["id"], "start", role="pharmacist")
    assert started["status"] == "serving"
    assert started["started_at"] == clock.now.isoformat()

    clock.advance(minutes=6)
    done = await act_ok(api, t["id"], "complete", role="admin")
    assert done["status"] == "done"
    assert done["finished_at"] == clock.now.isoformat()
    assert done["joined_at"] == t0.isoformat()
    assert done["number"] == "A-001"

    view = await ticket(api, t["id"])
    assert {k: view[k] for k in done} == done
    rows = [
        (e["type"], e["from_status"], e["to_status"], e["actor"], e["counter"])
        for e in view["history"]
    ]
    assert rows == [
        ("ticket_joined", None, "waiting", "staff:staff-user", None),
        ("ticket_called", "waiting", "called", "staff:pharmacist-user", "2"),
        ("ticket_recalled", "called", "called", "staff:pharmacist-user", "2"),
        ("ticket_recalled", "called", "called", "staff:staff-user", "2"),
        ("ticket_started", "called", "serving", "staff:pharmacist-user", "2"),
        ("ticket_completed", "serving", "done", "staff:admin-user", "2"),
    ]
    offsets = [0, 4, 5, 6, 7, 13]
    assert [e["at"] for e in view["history"]] == [
        (t0 + timedelta(minutes=m)).isoformat() for m in offsets
    ]
    assert view["history"][0]["new_position"] == 1
    assert view["history"][-1]["data"]["wait_s"] == 240
    assert view["history"][-1]["data"]["service_s"] == 540


async def test_history_records_where_the_ticket_joined_and_was_called_from(
    api: Api, clock: FakeClock
) -> None:
    await create_queue(api, "PHARM")
    first, second, third = [await join(api) for _ in range(3)]
    clock.advance(minutes=1)
    await call_next(api, role="pharmacist")
    clock.advance(minutes=1)
    await act_ok(api, second["id"], "cancel", role="admin")

    view = await ticket(api, third["id"])
    assert view["position"] == 1
    # The line's moves are derived, not recorded one by one: the history of a ticket
    # nobody can message holds its join alone.
    assert history_types(view) == ["ticket_joined"]
    assert view["history"][0]["new_position"] == 3
    clock.advance(minutes=1)
    await call_next(api, role="pharmacist", counter="2")
    called = (await ticket(api, third["id"]))["history"][-1]
    assert (called["type"], called["new_position"], called["actor"]) == (
        "ticket_called",
        1,
        "staff:pharmacist-user",
    )
    assert called["data"]["position"] == 1
    first_view = await ticket(api, first["id"])
    assert history_types(first_view) == ["ticket_joined", "ticket_called"]
    assert [e["new_position"] for e in first_view["history"]] == [1, 1]
    cancelled = await ticket(api, second["id"])
    assert history_types(cancelled) == ["ticket_joined", "ticket_cancelled"]
    assert cancelled["status"] == "cancelled" and cancelled["position"] is None


async def test_history_records_getting_close_once_per_place(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1", "2", "3", "4", "5"])
    ahead = [await join(api) for _ in range(4)]
    texted = await join(api, phone="+15550100")  # 5th
    for i, counter in enumerate(["1", "2", "3", "4"]):
        clock.advance(minutes=1)
        # called in order: the texted patient moves 5, 4, 3, 2, 1
        assert (await call_next(api, counter=counter))["id"] == ahead[i]["id"]
    history = (await ticket(api, texted["id"]))["history"]
    assert [(e["type"], e["old_position"], e["new_position"]) for e in history] == [
        ("ticket_joined", None, 5),
        ("position_changed", 5, 3),
        ("position_changed", 3, 1),
    ]


async def test_history_is_in_order_when_a_command_records_several_events(
    api: Api, clock: FakeClock
) -> None:
    """A transfer records `transferred_out` and `transferred_in` at the same instant."""
    await create_queue(api, "PHARM")
    await create_queue(api, "OTHER", prefix="O")
    for _ in range(5):
        t = await join(api)
        for action in ("call", "start", "transfer", "call"):
            clock.advance(minutes=1)
            await act_ok(api, t["id"], action, **BODIES.get(action, {}))
        assert history_types(await ticket(api, t["id"])) == [
            "ticket_joined",
            "ticket_called",
            "ticket_started",
            "ticket_transferred_out",
            "ticket_transferred_in",
            "ticket_called",
        ]


# -- call, transfer, return, cancel ------------------------------------------------------------


async def test_call_needs_a_known_counter(api: Api) -> None:
    await create_queue(api, "PHARM", counters=["1"])
    t = await join(api)
    assert_error(await act(api, t["id"], "call"), 422, "invalid_value")
    assert_error(await act(api, t["id"], "call", counter="7"), 422, "unknown_counter")
    assert (await ticket(api, t["id"]))["status"] == "waiting"
    # Any waiting ticket may be called, not only the first.
    second = await join(api)
    assert (await act_ok(api, second["id"], "call", counter="1"))["status"] == "called"
    assert [w["id"] for w in (await status(api))["waiting"]] == [t["id"]]


async def test_transfer_keeps_number_and_join_time(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1"])
    await create_queue(api, "LAB", prefix="L")
    moving = await join(api, "PHARM", name="Carol")
    clock.advance(minutes=2)
    there = await join(api, "LAB")
    clock.advance(minutes=3)
    await act_ok(api, moving["id"], "call", counter="1")

    moved = await act_ok(api, moving["id"], "transfer", role="pharmacist", queue="lab")
    assert moved["queue"] == "LAB"
    assert moved["number"] == "A-001"
    assert moved["joined_at"] == moving["joined_at"]
    assert moved["status"] == "waiting"
    assert moved["counter"] is None and moved["called_at"] is None
    assert moved["name"] == "Carol"
    assert (await with_token(moved))["token"] == moving["token"]
    # It joined before the patient already in LAB, so it goes first there.
    assert moved["position"] == 1
    lab = await status(api, "LAB")
    assert [w["id"] for w in lab["waiting"]] == [moving["id"], there["id"]]
    assert (await status(api, "PHARM"))["serving"] == []

    view = await ticket(api, moving["id"])
    out, into = view["history"][-2:]
    assert (out["type"], out["from_status"], out["to_status"]) == (
        "ticket_transferred_out",
        "called",
        "waiting",
    )
    assert out["data"]["to_queue"] == "LAB"
    assert (into["type"], into["data"]["from_queue"], into["new_position"]) == (
        "ticket_transferred_in",
        "PHARM",
        1,
    )
    assert {out["actor"], into["actor"]} == {"staff:pharmacist-user"}
    # The patient already there stepped back to 2nd: the line's order says so, no event.
    assert history_types(await ticket(api, there["id"])) == ["ticket_joined"]
    assert (await ticket(api, there["id"]))["position"] == 2


async def test_transfer_errors(api: Api) -> None:
    await create_queue(api, "PHARM")
    t = await join(api)
    before = await ticket(api, t["id"])
    assert_error(await act(api, t["id"], "transfer"), 422, "invalid_value")
    assert_error(await act(api, t["id"], "transfer", queue="NOPE"), 404, "queue_not_found")
    assert_error(await act(api, t["id"], "transfer", queue="PHARM"), 422, "invalid_value")
    assert_error(await act(api, t["id"], "transfer", queue="pharm"), 422, "invalid_value")
    assert_error(await act(api, t["id"], "transfer", queue="not a code"), 422, "validation_error")
    # A full target takes no transfers.
    await create_queue(api, "FULL", prefix="F", capacity=1)
    await join(api, "FULL")
    assert_error(await act(api, t["id"], "transfer", queue="FULL"), 409, "queue_full")
    assert await ticket(api, t["id"]) == before
    assert (await status(api, "FULL"))["size"] == 1


async def test_return_puts_the_ticket_back_by_its_join_time(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1"])
    first, second, third = [await join(api) for _ in range(3)]
    clock.advance(minutes=5)
    await call_next(api)
    back = await act_ok(api, first["id"], "return", role="pharmacist")
    assert back["status"] == "waiting"
    assert back["position"] == 1
    assert back["counter"] is None and back["called_at"] is None
    assert [w["id"] for w in (await status(api))["waiting"]] == [
        first["id"],
        second["id"],
        third["id"],
    ]
    returned = (await ticket(api, first["id"]))["history"][-1]
    assert (returned["type"], returned["from_status"], returned["to_status"]) == (
        "ticket_returned",
        "called",
        "waiting",
    )
    assert returned["new_position"] == 1

    # A no-show who turns up after all goes back in line too.
    await call_next(api)
    await act_ok(api, first["id"], "no-show")
    assert [w["id"] for w in (await status(api))["waiting"]] == [second["id"], third["id"]]
    back = await act_ok(api, first["id"], "return")
    assert back["status"] == "waiting" and back["position"] == 1
    assert back["finished_at"] is None


async def test_cancel_takes_the_ticket_out_of_the_line(api: Api) -> None:
    await create_queue(api, "PHARM")
    first, second = await join(api), await join(api)
    cancelled = await act_ok(api, first["id"], "cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["position"] is None
    s = await status(api)
    assert s["size"] == 1
    assert [(w["id"], w["position"]) for w in s["waiting"]] == [(second["id"], 1)]


# -- unknown tickets and actions ---------------------------------------------------------------


async def test_unknown_ticket_is_not_found(api: Api) -> None:
    await create_queue(api, "PHARM")
    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(await api.call("GET", f"{API}/tickets/{missing}"), 404, "ticket_not_found")
    assert_error(await api.call("GET", f"{API}/tickets/x"), 404, "ticket_not_found")
    for action in ACTIONS:
        r = await act(api, missing, action, **BODIES.get(action, {}))
        assert_error(r, 404, "ticket_not_found")


async def test_unknown_action_is_invalid(api: Api) -> None:
    await create_queue(api, "PHARM")
    t = await join(api)
    before = await ticket(api, t["id"])
    for action in ("teleport", "CALL", "no_show", "noshow", "cancel2"):
        error = assert_error(await act(api, t["id"], action), 422, "invalid_value")
        assert action in error["message"]
    assert await ticket(api, t["id"]) == before


# -- the patient's public view -----------------------------------------------------------------

PUBLIC_FIELDS = {
    "queue",
    "number",
    "status",
    "position",
    "eta_s",
    "eta_low_s",
    "eta_high_s",
    "counter",
    "joined_at",
    "called_at",
    "service",
}


async def test_public_ticket_shows_only_the_patients_own_fields(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1"])
    other = await join(api, name="Alice Other", phone="+4915100000001", telegram_chat_id=4242)
    mine = await join(api, name="Bob Mine", phone="+4915100000002", telegram_chat_id=777)

    r = await api.call("GET", f"{API}/public/tickets/{mine['token']}", role=None)
    assert r.status_code == 200, r.text
    view = r.json()
    assert set(view) == PUBLIC_FIELDS
    assert view["queue"] == "PHARM"
    assert view["number"] == "A-002"
    assert view["status"] == "waiting"
    assert view["position"] == 2
    assert view["eta_s"] == mine["eta_s"] > 0
    assert view["eta_low_s"] <= view["eta_s"] <= view["eta_high_s"]
    assert view["counter"] is None and view["called_at"] is None
    assert view["joined_at"] == clock.now.isoformat()
    assert view["service"] is None  # the kind of visit: not known
    private = (
        *(other[k] for k in ("id", "token", "number", "name", "phone")),
        *(mine[k] for k in ("id", "token", "name", "phone")),
    )
    assert [value for value in private if value in r.text] == []
    assert 4242 not in view.values() and 777 not in view.values()

    clock.advance(minutes=3)
    await call_next(api)  # calls `other`
    r = await api.call("GET", f"{API}/public/tickets/{mine['token']}", role=None)
    assert r.json()["position"] == 1
    assert "A-001" not in r.text and other["id"] not in r.text

    await act_ok(api, mine["id"], "call", counter="1")
    r = await api.call("GET", f"{API}/public/tickets/{mine['token']}", role=None)
    assert r.json() | {"called_at": None} == view | {
        "status": "called",
        "position": None,
        "eta_s": None,
        "eta_low_s": None,
        "eta_high_s": None,
        "counter": "1",
    }
    assert r.json()["called_at"] == clock.now.isoformat()


async def test_public_ticket_needs_the_token(api: Api) -> None:
    await create_queue(api, "PHARM")
    t = await join(api)
    for wrong in ("nope", t["id"], t["token"][:-1], t["token"] + "x", t["number"]):
        r = await api.call("GET", f"{API}/public/tickets/{wrong}", role=None)
        assert_error(r, 404, "ticket_not_found")
    # Staff credentials do not matter here, good or bad.
    for headers in ({"Authorization": "Bearer nxt_bogus"}, api.auth("staff")):
        r = await api.call("GET", f"{API}/public/tickets/{t['token']}", role=None, headers=headers)
        assert r.status_code == 200, r.text


# -- concurrency -------------------------------------------------------------------------------


async def test_concurrent_call_next_never_hands_out_a_ticket_twice(api: Api) -> None:
    names = [str(i) for i in range(1, 21)]
    await create_queue(api, "PHARM", counters=names)
    joined = [await join(api) for _ in range(20)]

    responses = await asyncio.gather(
        *(
            api.call("POST", f"{API}/queues/PHARM/call-next", role=role, json={"counter": name})
            for name, role in zip(names, ["staff", "pharmacist", "admin", "staff"] * 5, strict=True)
        )
    )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    called = [r.json() for r in responses]
    assert sorted(t["id"] for t in called) == sorted(t["id"] for t in joined)
    assert sorted(t["counter"] for t in called) == sorted(names)
    assert {t["status"] for t in called} == {"called"}

    r = await api.call("POST", f"{API}/queues/PHARM/call-next", role="staff", json={"counter": "1"})
    assert_error(r, 409, "queue_empty")
    s = await status(api)
    assert s["size"] == 0
    assert len(s["serving"]) == 20


async def test_concurrent_joins_get_distinct_numbers(api: Api) -> None:
    await create_queue(api, "PHARM")
    responses = await asyncio.gather(
        *(api.call("POST", f"{API}/queues/PHARM/tickets", role="staff", json={}) for _ in range(15))
    )
    assert [r.status_code for r in responses] == [201] * 15, [r.text for r in responses]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == [f"A-{n:03d}" for n in range(1, 16)]
    assert [w["position"] for w in (await status(api))["waiting"]] == list(range(1, 16))


async def test_concurrent_actions_on_one_ticket_apply_once(api: Api) -> None:
    await create_queue(api, "PHARM")
    t = await ticket_in(api, "called")
    responses = await asyncio.gather(*(act(api, t["id"], "start") for _ in range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 7, [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert_error(r, 409)
    assert history_types(await ticket(api, t["id"])).count("ticket_started") == 1
