"""Kinds of visit through the API: joining with one, configuring them, short visits first
with its fairness cap, and the per-kind service times the ETAs learn."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.storage.models import TicketRow
from nextup.wiring import Container
from tests.api.helpers import (
    API,
    act_ok,
    assert_error,
    call_next,
    config,
    create_queue,
    join,
    put_config,
    status,
    ticket,
)
from tests.conftest import Api, FakeClock

KINDS = {"pickup": 120, "consultation": 720}


def numbers(rows: list[dict[str, Any]]) -> list[str]:
    return [row["number"] for row in rows]


async def queue_with_kinds(api: Api, mode: str = "fifo", **fields: Any) -> dict[str, Any]:
    return await create_queue(api, counters=["1"], mode=mode, service_times_s=KINDS, **fields)


# -- joining ------------------------------------------------------------------------------------


async def test_a_ticket_carries_its_kind_of_visit_or_none(api: Api) -> None:
    await queue_with_kinds(api)
    pickup = await join(api, service="pickup")
    unknown = await join(api)
    assert (pickup["service"], unknown["service"]) == ("pickup", None)
    assert (await ticket(api, pickup["id"]))["service"] == "pickup"
    s = await status(api)
    assert [(w["number"], w["service"]) for w in s["waiting"]] == [
        ("A-001", "pickup"),
        ("A-002", None),
    ]
    await call_next(api)
    serving = (await status(api))["serving"]
    assert [(row["number"], row["service"]) for row in serving] == [("A-001", "pickup")]


@pytest.mark.parametrize("kinds", [KINDS, {}])
async def test_an_unknown_kind_is_refused_and_nothing_is_saved(
    api: Api, kinds: dict[str, int]
) -> None:
    await create_queue(api, service_times_s=kinds)
    r = await api.call("POST", f"{API}/queues/PHARM/tickets", role="staff", json={"service": "x"})
    error = assert_error(r, 422, "invalid_value")
    assert "unknown kind of visit 'x'" in error["message"]
    offered = "consultation, pickup" if kinds else "none (leave it out)"
    assert f"this queue offers: {offered}" in error["message"]
    r = await api.call(
        "POST", f"{API}/queues/PHARM/tickets", role="staff", json={"service": "x" * 33}
    )
    assert "service" in assert_error(r, 422, "validation_error")["message"]
    assert (await status(api))["size"] == 0
    assert await TicketRow.all().count() == 0
    # The queue's numbering did not move either.
    assert (await join(api))["number"] == "A-001"


# -- configuring --------------------------------------------------------------------------------


async def test_kinds_mode_and_cap_round_trip_through_create_patch_and_config(api: Api) -> None:
    created = await create_queue(api, mode="short_first", service_times_s=KINDS, fairness_cap_s=900)
    assert (created["mode"], created["service_times_s"], created["fairness_cap_s"]) == (
        "short_first",
        KINDS,
        900,
    )
    stored = await config(api)
    assert (stored["mode"], stored["service_times_s"], stored["fairness_cap_s"]) == (
        "short_first",
        KINDS,
        900,
    )

    after = await put_config(api, service_times_s={"pickup": 90}, fairness_cap_s=60)
    assert (after["service_times_s"], after["fairness_cap_s"]) == ({"pickup": 90}, 60)
    assert (await config(api))["service_times_s"] == {"pickup": 90}
    assert (await put_config(api, capacity=4))["service_times_s"] == {"pickup": 90}  # kept

    r = await api.call(
        "PATCH",
        f"{API}/queues/PHARM",
        json={"mode": "dynamic", "service_times_s": {"pickup": 60, "refill": 30}, "name": "P"},
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert (patched["name"], patched["mode"], patched["fairness_cap_s"]) == ("P", "dynamic", 60)
    assert patched["service_times_s"] == {"pickup": 60, "refill": 30}
    assert (await config(api))["mode"] == "dynamic"
    r = await api.call("PATCH", f"{API}/queues/PHARM", json={"fairness_cap_s": 14400})
    assert r.status_code == 200, r.text
    assert r.json()["fairness_cap_s"] == 14400
    # `{}` takes every kind away: one kind of visit again.
    assert (await put_config(api, service_times_s={}))["service_times_s"] == {}


BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"service_times_s": {"Pickup": 120}}, "service_times_s"),
    ({"service_times_s": {"pick up": 120}}, "service_times_s"),
    ({"service_times_s": {"x" * 33: 120}}, "service_times_s"),
    ({"service_times_s": {"": 120}}, "service_times_s"),
    ({"service_times_s": {f"kind{i}": 60 for i in range(13)}}, "service_times_s"),
    ({"service_times_s": {"pickup": 0}}, "service_times_s"),
    ({"service_times_s": {"pickup": 28801}}, "service_times_s"),
    ({"service_times_s": {"pickup": "two minutes"}}, "service_times_s"),
    ({"service_times_s": ["pickup"]}, "service_times_s"),
    ({"service_times_s": None}, "service_times_s"),
    ({"fairness_cap_s": 59}, "fairness_cap_s"),
    ({"fairness_cap_s": 14401}, "fairness_cap_s"),
    ({"fairness_cap_s": "20 min"}, "fairness_cap_s"),
    ({"fairness_cap_s": None}, "fairness_cap_s"),
    ({"mode": "shortest"}, "mode"),
    ({"mode": None}, "mode"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SETTINGS)
async def test_bad_kinds_or_cap_are_refused_naming_the_field_and_change_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    await create_queue(api, service_times_s=KINDS)
    before = await config(api)
    queue_before = (await api.call("GET", f"{API}/queues/PHARM")).json()
    r = await api.call("PUT", f"{API}/queues/PHARM/config", json=body | {"capacity": 3})
    assert field in assert_error(r, 422, "validation_error")["message"]
    r = await api.call("PATCH", f"{API}/queues/PHARM", json=body | {"name": "Renamed"})
    assert field in assert_error(r, 422, "validation_error")["message"]
    r = await api.call(
        "POST", f"{API}/queues", json=body | {"code": "X", "name": "X", "prefix": "X"}
    )
    if body.get(field) is not None:  # null is the default when creating
        assert field in assert_error(r, 422, "validation_error")["message"]
    assert await config(api) == before
    assert (await api.call("GET", f"{API}/queues/PHARM")).json() == queue_before


async def test_a_setting_patch_with_a_busy_counter_removed_writes_nothing(api: Api) -> None:
    await create_queue(api, counters=["1", "2"])
    await join(api)
    await call_next(api, counter="2")
    r = await api.call(
        "PATCH", f"{API}/queues/PHARM", json={"counters": ["1"], "mode": "short_first"}
    )
    assert_error(r, 422, "invalid_value")
    assert (await config(api))["mode"] == "fifo"


# -- short visits first -------------------------------------------------------------------------


async def test_short_first_calls_a_later_short_visit_before_a_long_one(
    api: Api, clock: FakeClock
) -> None:
    await queue_with_kinds(api, mode="short_first", fairness_cap_s=1200)
    long_visit = await join(api, service="consultation")
    clock.advance(minutes=1)
    short_visit = await join(api, service="pickup")
    assert numbers((await status(api))["waiting"]) == ["A-002", "A-001"]
    assert (short_visit["position"], (await ticket(api, long_visit["id"]))["position"]) == (1, 2)
    assert (await call_next(api))["id"] == short_visit["id"]
    await act_ok(api, short_visit["id"], "start")  # finished by the next call
    clock.advance(minutes=2)
    assert (await call_next(api))["id"] == long_visit["id"]


async def test_short_first_calls_whoever_passed_the_fairness_cap_first(
    api: Api, clock: FakeClock
) -> None:
    # The cap (40 min) is no shorter than a consultation is sure to take (12 min and three
    # spreads of 6 min). A ticket goes first once its cap would run out before the counter
    # is sure to free up: a usual visit (30 s here, and three spreads of 15 s) for a free one.
    await queue_with_kinds(api, mode="short_first", fairness_cap_s=2400)
    await put_config(api, default_service_s=30)
    long_visit = await join(api, service="consultation")
    clock.advance(minutes=1)
    first_pickup = await join(api, service="pickup")
    # The call first come, first served would have made to the consultation: its turn.
    assert (await call_next(api))["id"] == first_pickup["id"]
    await act_ok(api, first_pickup["id"], "start")
    clock.advance(minutes=2)
    await act_ok(api, first_pickup["id"], "complete")
    later_pickup = await join(api, service="pickup")
    assert numbers((await status(api))["waiting"]) == ["A-003", "A-001"]
    clock.advance(seconds=60 + 2400 - 180 - 100)  # 100 s before its cap runs out
    assert numbers((await status(api))["waiting"]) == ["A-003", "A-001"]
    clock.advance(seconds=40)  # 60 s before: a usual visit could not be sure to end first
    assert numbers((await status(api))["waiting"]) == ["A-001", "A-003"]  # derived when read
    assert (await call_next(api))["id"] == long_visit["id"]
    await act_ok(api, long_visit["id"], "start")
    assert (await call_next(api))["id"] == later_pickup["id"]


async def test_the_cap_counts_from_the_call_first_come_first_served_would_have_made(
    api: Api, clock: FakeClock
) -> None:
    """Not from joining, nor from the forecast of that call: from the call itself, whoever it
    went to. Counted in calls and stored with the ticket, as the line is loaded again for
    every command."""
    await queue_with_kinds(api, mode="short_first", fairness_cap_s=2400)
    await put_config(api, default_service_s=30)
    at_counter = await join(api, service="pickup")
    await call_next(api)
    long_visit = await join(api, service="consultation")  # FIFO: the queue's second call
    row = await TicketRow.get(id=long_visit["id"])
    assert (row.fifo_call_no, row.fifo_call_at) == (2, clock.now + timedelta(seconds=120))
    await act_ok(api, at_counter["id"], "start")
    clock.advance(minutes=1)
    short_visit = await join(api, service="pickup")
    clock.advance(minutes=1)
    await act_ok(api, at_counter["id"], "complete")
    clock.advance(minutes=4)  # the second call comes later than forecast
    assert (await call_next(api))["id"] == short_visit["id"]
    row = await TicketRow.get(id=long_visit["id"])
    assert (row.fifo_call_no, row.fifo_call_at) == (None, clock.now)
    await act_ok(api, short_visit["id"], "start")
    await act_ok(api, short_visit["id"], "complete")
    latest = await join(api, service="pickup")
    clock.advance(seconds=2400 - 600)  # counted from the call, it is not about to run out
    assert (await call_next(api))["id"] == latest["id"]
    await act_ok(api, latest["id"], "start")
    await act_ok(api, latest["id"], "complete")
    later = await join(api, service="pickup")
    clock.advance(seconds=560)  # 40 s before it runs out
    assert (await call_next(api))["id"] == long_visit["id"]
    assert (await status(api))["waiting"][0]["id"] == later["id"]


async def test_priority_still_goes_first_in_short_first_mode(api: Api) -> None:
    await queue_with_kinds(api, mode="short_first")
    await join(api, service="pickup")
    urgent = await join(api, service="consultation", priority=2)
    assert numbers((await status(api))["waiting"]) == ["A-002", "A-001"]
    assert (await call_next(api))["id"] == urgent["id"]


# -- learned per kind ---------------------------------------------------------------------------


async def visit(api: Api, clock: FakeClock, service: str, minutes: float) -> None:
    joined = await join(api, service=service)
    called = await call_next(api)
    assert called["id"] == joined["id"]
    await act_ok(api, called["id"], "start")
    clock.advance(minutes=minutes)
    await act_ok(api, called["id"], "complete")


async def test_service_times_learned_per_kind_move_the_etas(
    api: Api, container: Container, clock: FakeClock
) -> None:
    await queue_with_kinds(api)
    pickup = await join(api, service="pickup")
    behind = await join(api, service="consultation")
    assert behind["eta_s"] == 120  # waits for the pickup's configured 2 min
    s = await status(api)
    assert s["service_times_by_kind"]["pickup"] == {
        "mean_s": 120.0,
        "basis": "default",
        "samples": 0,
    }
    for joined in (pickup, behind):
        await act_ok(api, joined["id"], "cancel")  # no visit: nothing to learn from

    for _ in range(10):
        await visit(api, clock, "pickup", minutes=10)

    s = await status(api)
    # 10 pickups of 600 s shrunk towards their configured 120 s, weighted as 5: (6000+600)/15
    assert s["service_times_by_kind"]["pickup"] == {"mean_s": 440.0, "basis": "week", "samples": 10}
    assert s["service_times_by_kind"]["consultation"]["basis"] == "default"
    await join(api, service="pickup")
    behind = await join(api, service="consultation")
    assert behind["eta_s"] == 440
    assert [w["eta_s"] for w in (await status(api))["waiting"]] == [0, 440]
    # A visit of unknown kind waits on the learned figure over every visit instead.
    unknown = await join(api)
    assert unknown["eta_s"] == 440 + 720
