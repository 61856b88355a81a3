"""Analytics (totals, waits, service times, no-shows) and hourly metric rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import API, act_ok, assert_error, call_next, create_queue, join, put_config
from tests.conftest import Api, FakeClock


async def a_morning(api: Api, clock: FakeClock) -> None:
    """Five visits from 09:00 to 10:05 UTC on 2 March 2026.

    waits (join -> call): 300, 600, 900 s; services (call -> done): 300 s at counter 1 and
    600 s at counter 2; one no-show, one cancelled, one still waiting.
    """
    await create_queue(api, "PHARM", counters=["1", "2"])
    t1, t2 = await join(api), await join(api)
    clock.advance(minutes=5)  # 09:05
    t3 = await join(api)
    assert (await call_next(api, counter="1"))["id"] == t1["id"]
    await act_ok(api, t1["id"], "start")
    clock.advance(minutes=5)  # 09:10
    await act_ok(api, t1["id"], "complete")
    assert (await call_next(api, counter="2"))["id"] == t2["id"]
    await act_ok(api, t2["id"], "start")
    clock.advance(minutes=10)  # 09:20
    await act_ok(api, t2["id"], "complete")
    assert (await call_next(api, counter="1"))["id"] == t3["id"]
    clock.advance(minutes=5)  # 09:25
    await act_ok(api, t3["id"], "no-show")
    clock.advance(minutes=40)  # 10:05
    await join(api)
    t5 = await join(api)
    await act_ok(api, t5["id"], "cancel")


async def get_analytics(api: Api, days: int | None = None, role: str = "staff") -> dict[str, Any]:
    params = {} if days is None else {"days": days}
    r = await api.call("GET", f"{API}/queues/pharm/analytics", role=role, params=params)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def get_metrics(api: Api, **params: str) -> list[dict[str, Any]]:
    r = await api.call("GET", f"{API}/queues/pharm/metrics", role="staff", params=params)
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


# -- analytics ---------------------------------------------------------------------------------


async def test_analytics_after_a_morning(api: Api, clock: FakeClock) -> None:
    await a_morning(api, clock)
    a = await get_analytics(api, days=7, role="pharmacist")
    assert a["code"] == "PHARM"
    assert a["days"] == 7
    assert a["since"] == "2026-02-23T10:05:00+00:00"
    assert a["totals"] == {
        "joined": 5,
        "completed": 2,
        "no_shows": 1,
        "cancelled": 1,
        "closed": 0,
        "in_progress": 1,
    }
    assert a["wait_s"] == {"avg": 600.0, "p50": 600.0, "p90": pytest.approx(840.0), "max": 900.0}
    assert a["service_s"] == {
        "avg": 450.0,
        "p50": 450.0,
        "p90": pytest.approx(570.0),
        "max": 600.0,
    }
    assert a["no_show_rate"] == pytest.approx(1 / 3)
    assert a["per_hour"] == [
        {"hour": 9, "arrivals": 3, "avg_wait_s": 600.0},
        {"hour": 10, "arrivals": 2, "avg_wait_s": 0.0},
    ]
    assert a["per_counter"] == [
        {"counter": "1", "served": 1, "avg_service_s": 300.0},
        {"counter": "2", "served": 1, "avg_service_s": 600.0},
    ]
    assert await get_analytics(api) == a  # 7 days is the default


async def test_analytics_counts_only_the_last_days(api: Api, clock: FakeClock) -> None:
    await a_morning(api, clock)
    clock.advance(days=2)  # 4 March, 10:05
    assert (await get_analytics(api, days=1))["totals"]["joined"] == 0
    assert (await get_analytics(api, days=2))["totals"]["joined"] == 2  # from 10:05 on 2 March
    assert (await get_analytics(api, days=3))["totals"]["joined"] == 5
    empty = await get_analytics(api, days=1)
    assert empty["wait_s"] == {"avg": 0.0, "p50": 0.0, "p90": 0.0, "max": 0.0}
    assert empty["no_show_rate"] == 0.0
    assert empty["per_hour"] == [] and empty["per_counter"] == []


async def test_analytics_hours_are_the_queues_local_hours(api: Api, clock: FakeClock) -> None:
    await a_morning(api, clock)
    await put_config(api, timezone="Asia/Kolkata")  # UTC+05:30
    hours = [(h["hour"], h["arrivals"]) for h in (await get_analytics(api))["per_hour"]]
    assert hours == [(14, 3), (15, 2)]


async def test_analytics_bad_days_and_unknown_queue(api: Api) -> None:
    await create_queue(api, "PHARM")
    for days in ("0", "abc", "367", "-7"):
        r = await api.call("GET", f"{API}/queues/PHARM/analytics", params={"days": days})
        assert_error(r, 422, "invalid_value")
    assert_error(await api.call("GET", f"{API}/queues/NOPE/analytics"), 404, "queue_not_found")


# -- metrics -----------------------------------------------------------------------------------


async def test_hourly_metrics_after_a_morning(api: Api, clock: FakeClock) -> None:
    await a_morning(api, clock)
    rows = await get_metrics(api)  # the last 24 hours
    assert [r["hour_start"] for r in rows] == [
        "2026-03-02T09:00:00+00:00",
        "2026-03-02T10:00:00+00:00",
    ]
    nine, ten = rows
    counts = ("joined", "called", "completed", "no_shows", "cancelled")
    assert {k: nine[k] for k in counts} == {
        "joined": 3,
        "called": 3,
        "completed": 2,
        "no_shows": 1,
        "cancelled": 0,
    }
    assert nine["avg_wait_s"] == pytest.approx(600.0)
    assert nine["max_wait_s"] == pytest.approx(900.0)
    assert nine["avg_service_s"] == pytest.approx(450.0)
    assert nine["peak_size"] == 3
    assert 0 < nine["avg_size"] <= 3
    assert {k: ten[k] for k in counts} == {
        "joined": 2,
        "called": 0,
        "completed": 0,
        "no_shows": 0,
        "cancelled": 1,
    }
    assert (ten["avg_wait_s"], ten["avg_service_s"], ten["peak_size"]) == (0.0, 0.0, 2)


async def test_metrics_window(api: Api, clock: FakeClock) -> None:
    await a_morning(api, clock)

    def hours(rows: list[dict[str, Any]]) -> list[str]:
        return [r["hour_start"][11:16] for r in rows]

    assert hours(await get_metrics(api, since="2026-03-02T10:00:00Z")) == ["10:00"]
    assert hours(await get_metrics(api, since="2026-03-02T11:00:00+01:00")) == ["10:00"]
    assert hours(await get_metrics(api, since="2026-03-02T09:30:00+00:00")) == ["10:00"]
    assert hours(await get_metrics(api, until="2026-03-02T10:00:00+00:00")) == ["09:00"]
    assert hours(
        await get_metrics(api, since="2026-03-02T08:00:00Z", until="2026-03-02T12:00:00+02:00")
    ) == ["09:00"]
    assert await get_metrics(api, since="2026-03-01T00:00:00Z", until="2026-03-02T09:00:00Z") == []
    clock.advance(days=1, hours=1)  # 11:05 the next day: the morning is over 24 hours ago
    assert await get_metrics(api) == []


async def test_metrics_bad_times_and_unknown_queue(api: Api) -> None:
    await create_queue(api, "PHARM")
    for params in (
        {"since": "yesterday"},
        {"until": "2026-03-02T10:00:00"},
        {"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T09:00:00Z"},
    ):
        r = await api.call("GET", f"{API}/queues/PHARM/metrics", params=params)
        error = assert_error(r, 422, "invalid_value")
        assert ("since" in error["message"]) or ("until" in error["message"])
    assert_error(await api.call("GET", f"{API}/queues/NOPE/metrics"), 404, "queue_not_found")
