"""Joining a queue (numbers, capacity, overflow), calling the next patient, reordering."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from tests.api.helpers import (
    API,
    assert_error,
    call_next,
    create_queue,
    join,
    put_config,
    status,
    ticket,
)
from tests.conftest import Api, FakeClock


def line(s: dict[str, object]) -> list[str]:
    """Ticket numbers of the waiting line, in order."""
    waiting = s["waiting"]
    assert isinstance(waiting, list)
    assert [w["position"] for w in waiting] == list(range(1, len(waiting) + 1))
    return [w["number"] for w in waiting]


# -- join --------------------------------------------------------------------------------------


async def test_join_returns_the_new_ticket(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1"])
    r = await api.call("POST", f"{API}/queues/pharm/tickets", role="staff", json={})
    assert r.status_code == 201, r.text
    first = r.json()
    uuid.UUID(first["id"])
    assert first["queue"] == "PHARM"
    assert first["number"] == "A-001"
    assert first["position"] == 1
    assert first["status"] == "waiting"
    assert first["priority"] == 0
    assert first["joined_at"] == clock.now.isoformat()
    assert first["counter"] is None
    assert "token" not in first  # the patient's key is not for staff
    # One open counter and nobody at it: the first patient is next.
    assert (first["eta_s"], first["eta_low_s"], first["eta_high_s"]) == (0, 0, 0)

    appointment = "2026-03-02T11:30:00+01:00"
    second = await join(
        api,
        priority=2,
        appointment_at=appointment,
        name="Alice Example",
        phone="+49 151 1234567",
        telegram_chat_id=123456789,
        language="de",
    )
    assert second["number"] == "A-002"
    assert second["position"] == 2
    assert second["priority"] == 2
    assert datetime.fromisoformat(second["appointment_at"]) == datetime.fromisoformat(appointment)
    assert second["name"] == "Alice Example"
    assert second["phone"] == "+491511234567"  # stored in E.164
    assert second["telegram_chat_id"] == 123456789
    assert second["language"] == "de"
    assert second["id"] != first["id"]
    # The counter is free but the first patient takes it: a wait of about one service.
    assert 0 < second["eta_low_s"] <= second["eta_s"] <= second["eta_high_s"]

    stored = await ticket(api, second["id"])
    # The token was read from the database by the helper: neither response has it.
    assert {k: stored[k] for k in second if k not in ("appointment_at", "token")} == {
        k: v for k, v in second.items() if k not in ("appointment_at", "token")
    }
    assert datetime.fromisoformat(stored["appointment_at"]) == datetime.fromisoformat(appointment)


async def test_numbers_are_per_queue_and_per_day(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", prefix="A")
    await create_queue(api, "LAB", prefix="L")
    assert [(await join(api, "PHARM"))["number"] for _ in range(3)] == ["A-001", "A-002", "A-003"]
    assert (await join(api, "LAB"))["number"] == "L-001"
    clock.advance(hours=14)  # 23:00 UTC, still the same day
    assert (await join(api, "PHARM"))["number"] == "A-004"
    clock.advance(hours=1)
    assert (await join(api, "PHARM"))["number"] == "A-001"
    assert (await join(api, "LAB"))["number"] == "L-001"


async def test_the_day_of_a_number_is_the_queues_local_day(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "TOKYO", prefix="T")
    await put_config(api, "TOKYO", timezone="Asia/Tokyo")  # 09:00 UTC is 18:00 there
    assert (await join(api, "TOKYO"))["number"] == "T-001"
    clock.advance(hours=5, minutes=59)
    assert (await join(api, "TOKYO"))["number"] == "T-002"
    clock.advance(minutes=1)  # midnight in Tokyo
    assert (await join(api, "TOKYO"))["number"] == "T-001"


async def test_join_at_capacity_without_overflow_is_a_conflict(api: Api) -> None:
    await create_queue(api, "PHARM", capacity=2)
    await join(api)
    await join(api)
    r = await api.call("POST", f"{API}/queues/PHARM/tickets", role="staff", json={"priority": 3})
    assert_error(r, 409, "queue_full")
    assert (await status(api))["size"] == 2

    # Capacity counts the waiting line; once someone is called there is room again.
    await call_next(api)
    assert (await join(api))["number"] == "A-003"
    assert_error(await api.call("POST", f"{API}/queues/PHARM/tickets", json={}), 409, "queue_full")


async def test_join_at_capacity_lands_in_the_overflow_queue(api: Api) -> None:
    await create_queue(api, "SPARE", prefix="S", capacity=1)
    await create_queue(api, "MAIN", prefix="M", capacity=1, overflow_queue="SPARE")
    first = await join(api, "MAIN")
    assert (first["queue"], first["number"]) == ("MAIN", "M-001")

    overflowed = await join(api, "MAIN", name="Bob")
    assert overflowed["queue"] == "SPARE"
    assert overflowed["number"] == "S-001"
    assert overflowed["position"] == 1
    assert overflowed["status"] == "waiting"
    assert line(await status(api, "MAIN")) == ["M-001"]
    assert line(await status(api, "SPARE")) == ["S-001"]
    history = (await ticket(api, overflowed["id"]))["history"]
    assert history[0]["type"] == "ticket_joined"
    assert history[0]["data"]["overflowed_from"] == "MAIN"

    # The overflow queue is full too and has no overflow of its own.
    r = await api.call("POST", f"{API}/queues/MAIN/tickets", role="staff", json={})
    assert_error(r, 409, "queue_full")
    assert (await status(api, "SPARE"))["size"] == 1


async def test_join_unknown_queue(api: Api) -> None:
    r = await api.call("POST", f"{API}/queues/NOPE/tickets", role="staff", json={})
    assert_error(r, 404, "queue_not_found")


# -- call-next ---------------------------------------------------------------------------------


async def test_call_next_calls_in_order_then_the_queue_is_empty(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1", "2", "3"])
    joined = [await join(api, priority=p) for p in (0, 3, 1)]  # FIFO ignores priority
    called = []
    for counter in ("2", "1", "3"):
        clock.advance(minutes=2)
        t = await call_next(api, counter=counter, role="pharmacist")
        assert t["status"] == "called"
        assert t["counter"] == counter
        assert t["called_at"] == clock.now.isoformat()
        assert t["position"] is None
        assert (t["eta_s"], t["eta_low_s"], t["eta_high_s"]) == (None, None, None)
        called.append(t["id"])
    assert called == [t["id"] for t in joined]
    r = await api.call("POST", f"{API}/queues/PHARM/call-next", role="staff", json={"counter": "1"})
    assert_error(r, 409, "queue_empty")
    s = await status(api)
    assert [(t["number"], t["counter"]) for t in s["serving"]] == [
        ("A-001", "2"),
        ("A-002", "1"),
        ("A-003", "3"),
    ]


async def test_call_next_in_dynamic_mode_takes_the_highest_score(api: Api) -> None:
    await create_queue(api, "ER", prefix="E", mode="dynamic")
    await join(api, "ER", priority=0)
    urgent = await join(api, "ER", priority=3)
    await join(api, "ER", priority=1)
    assert (await call_next(api, "ER"))["id"] == urgent["id"]
    assert line(await status(api, "ER")) == ["E-003", "E-001"]


async def test_call_next_unknown_counter_or_queue(api: Api) -> None:
    await create_queue(api, "PHARM", counters=["1", "2"])
    await join(api)
    r = await api.call("POST", f"{API}/queues/PHARM/call-next", role="staff", json={"counter": "9"})
    assert_error(r, 422, "unknown_counter")
    s = await status(api)
    assert line(s) == ["A-001"] and s["serving"] == []
    r = await api.call("POST", f"{API}/queues/NOPE/call-next", role="staff", json={"counter": "1"})
    assert_error(r, 404, "queue_not_found")


# -- reposition --------------------------------------------------------------------------------


async def test_the_order_shown_is_the_order_now_in_dynamic_mode(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "DYN", prefix="D", mode="dynamic")
    walk_in = await join(api, "DYN")
    booked = await join(
        api,
        "DYN",
        appointment_at=(clock.now + timedelta(minutes=30)).isoformat(),
        phone="+15550100",
    )
    # The appointment is a full window away: it counts for nothing yet.
    assert line(await status(api, "DYN")) == ["D-001", "D-002"]

    clock.advance(minutes=20)  # now 10 minutes before the appointment
    # The order is derived when read: time alone moved the appointment up.
    assert line(await status(api, "DYN")) == ["D-002", "D-001"]
    assert (await ticket(api, booked["id"]))["position"] == 1
    assert (await ticket(api, walk_in["id"]))["position"] == 2

    # Reposition announces the line as it stands and sends what is due ("getting close").
    r = await api.call("POST", f"{API}/queues/dyn/reposition", role="pharmacist")
    assert r.status_code == 200, r.text
    assert r.json() == {"waiting": 2}
    history = (await ticket(api, booked["id"]))["history"]
    close = [e for e in history if e["type"] == "position_changed"]
    assert [(e["old_position"], e["new_position"], e["actor"]) for e in close] == [(2, 1, "system")]
    assert close[0]["at"] == clock.now.isoformat()
    r = await api.call("POST", f"{API}/queues/DYN/reposition", role="staff")
    assert r.json() == {"waiting": 2}
    history = (await ticket(api, booked["id"]))["history"]
    assert len([e for e in history if e["type"] == "position_changed"]) == 1  # told once

    assert (await call_next(api, "DYN"))["id"] == booked["id"]
    assert (await call_next(api, "DYN", counter="2"))["id"] == walk_in["id"]


async def test_changing_the_weights_reorders_the_line(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "DYN", prefix="D", mode="dynamic")
    await join(api, "DYN", priority=0)
    clock.advance(minutes=10)
    await join(api, "DYN", priority=3)
    assert line(await status(api, "DYN")) == ["D-002", "D-001"]  # priority weighs 0.5

    await put_config(api, "DYN", weights={"priority": 0, "wait_time": 1, "appointment": 0})
    assert line(await status(api, "DYN")) == ["D-001", "D-002"]  # only the wait counts now
    r = await api.call("POST", f"{API}/queues/DYN/reposition", role="staff")
    assert r.json() == {"waiting": 2}
    assert line(await status(api, "DYN")) == ["D-001", "D-002"]

    await put_config(api, "DYN", weights={"priority": 1, "wait_time": 0, "appointment": 0})
    assert line(await status(api, "DYN")) == ["D-002", "D-001"]


async def test_reposition_in_fifo_mode_moves_nobody(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM")
    await join(api, priority=0)
    clock.advance(minutes=30)
    await join(api, priority=3, appointment_at=clock.now.isoformat())
    r = await api.call("POST", f"{API}/queues/PHARM/reposition", role="staff")
    assert r.status_code == 200 and r.json() == {"waiting": 2}
    assert line(await status(api)) == ["A-001", "A-002"]


@pytest.mark.parametrize(
    ("mode", "joins", "order"),
    [
        ("fifo", [{"priority": 0}, {"priority": 3}, {"priority": 1}], ["A-001", "A-002", "A-003"]),
        (
            "dynamic",
            [{"priority": 0}, {"priority": 3}, {"priority": 1}],
            ["A-002", "A-003", "A-001"],
        ),
        (
            "short_first",
            [{"service": "consultation"}, {"service": "pickup"}, {"service": "pickup"}],
            ["A-002", "A-003", "A-001"],
        ),
    ],
)
async def test_every_view_shows_the_same_derived_positions(
    api: Api, clock: FakeClock, mode: str, joins: list[dict[str, object]], order: list[str]
) -> None:
    kinds = {"pickup": 120, "consultation": 720}
    await create_queue(api, mode=mode, service_times_s=kinds)
    tickets = {}
    for body in joins:
        joined = await join(api, **body)
        tickets[joined["number"]] = joined
        clock.advance(seconds=30)
    await call_next(api)
    tickets.pop(order[0])
    expected = {number: place for place, number in enumerate(order[1:], start=1)}

    assert line(await status(api)) == order[1:]
    for number, joined in tickets.items():
        staff_view = await ticket(api, joined["id"])
        public = await api.call("GET", f"{API}/public/tickets/{joined['token']}", role=None)
        assert staff_view["position"] == public.json()["position"] == expected[number]


async def test_reposition_unknown_queue(api: Api) -> None:
    r = await api.call("POST", f"{API}/queues/NOPE/reposition", role="staff")
    assert_error(r, 404, "queue_not_found")
