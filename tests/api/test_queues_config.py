"""Queues (list, create, read, change), their live status and their configuration."""

from __future__ import annotations

import itertools
from typing import Any

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
)
from tests.conftest import Api, FakeClock

DEFAULT_CONFIG = {
    "weights": {"priority": 0.5, "wait_time": 0.3, "appointment": 0.2},
    "mode": "fifo",
    "capacity": None,
    "overflow_queue": None,
    "notify_positions": [3, 1],
    "no_show_grace_s": 300,
    "default_service_s": 300,
    "wait_horizon_s": 3600,
    "appointment_window_s": 1800,
    "timezone": "UTC",
    "language": "en",
    "eta_change_margin_s": 600,
    "eta_update_interval_s": 900,
    "wait_alert_s": 3600,
    "service_times_s": {},
    "fairness_cap_s": 1200,
    "call_ladder": [
        {"step": "sms", "after_s": 60},
        {"step": "voice", "after_s": 60},
        {"step": "unreachable", "after_s": 90},
    ],
    "opening_hours": None,
    "closures": [],
    "refuse_past_closing": True,
    "on_close": "serve_remaining",
}


def counters(queue: dict[str, Any]) -> dict[str, bool]:
    return {c["name"]: c["is_open"] for c in queue["counters"]}


# -- list, create, read ------------------------------------------------------------------------


async def test_create_list_and_get_queues(api: Api) -> None:
    r = await api.call("GET", f"{API}/queues", role="staff")
    assert r.status_code == 200 and r.json() == []

    r = await api.call(
        "POST",
        f"{API}/queues",
        json={
            "code": "pharm",
            "name": "Pharmacy",
            "prefix": "A",
            "mode": "dynamic",
            "capacity": 30,
            "counters": ["1", "2", "2"],
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created == {
        "code": "PHARM",
        "name": "Pharmacy",
        "public_name": None,
        "prefix": "A",
        "mode": "dynamic",
        "capacity": 30,
        "overflow_queue": None,
        "counters": [{"name": "1", "is_open": True}, {"name": "2", "is_open": True}],
        "service_times_s": {},
        "fairness_cap_s": 1200,
    }
    await create_queue(api, "LAB", prefix="L", counters=["x"])
    await create_queue(api, "ADMISSIONS", prefix="D")

    r = await api.call("GET", f"{API}/queues", role="pharmacist")
    assert r.status_code == 200
    assert [q["code"] for q in r.json()] == ["ADMISSIONS", "LAB", "PHARM"]
    assert r.json()[2] == created

    for path_code in ("PHARM", "pharm"):
        r = await api.call("GET", f"{API}/queues/{path_code}", role="staff")
        assert r.status_code == 200, r.text
        assert r.json() == created


async def test_create_defaults_to_fifo_with_one_counter(api: Api) -> None:
    r = await api.call("POST", f"{API}/queues", json={"code": "Q", "name": "Q", "prefix": "Q"})
    assert r.status_code == 201, r.text
    assert r.json()["mode"] == "fifo"
    assert r.json()["capacity"] is None
    assert r.json()["counters"] == [{"name": "1", "is_open": True}]
    assert await config(api, "Q") == DEFAULT_CONFIG


async def test_create_duplicate_code_conflicts(api: Api) -> None:
    await create_queue(api, "PHARM")
    r = await api.call(
        "POST", f"{API}/queues", json={"code": "Pharm", "name": "Other", "prefix": "B"}
    )
    assert_error(r, 409, "already_exists")
    r = await api.call("GET", f"{API}/queues/PHARM", role="staff")
    assert r.json()["name"] == "Queue PHARM"


async def test_create_with_overflow_queue(api: Api) -> None:
    await create_queue(api, "SPARE", prefix="S")
    queue = await create_queue(api, "MAIN", capacity=5, overflow_queue="SPARE")
    assert queue["overflow_queue"] == "SPARE"
    assert (await config(api, "MAIN"))["overflow_queue"] == "SPARE"

    r = await api.call(
        "POST",
        f"{API}/queues",
        json={"code": "X", "name": "X", "prefix": "X", "overflow_queue": "NOPE"},
    )
    assert_error(r, 422, "invalid_value")
    r = await api.call(
        "POST",
        f"{API}/queues",
        json={"code": "X", "name": "X", "prefix": "X", "overflow_queue": "X"},
    )
    assert_error(r, 422, "invalid_value")
    assert_error(await api.call("GET", f"{API}/queues/X", role="staff"), 404, "queue_not_found")


async def test_overflow_queue_code_is_case_insensitive_like_every_other_code(api: Api) -> None:
    await create_queue(api, "SPARE", prefix="S")
    queue = await create_queue(api, "MAIN", overflow_queue="spare")
    assert queue["overflow_queue"] == "SPARE"
    await create_queue(api, "OTHER", prefix="O")
    assert (await put_config(api, "MAIN", overflow_queue="other"))["overflow_queue"] == "OTHER"
    r = await api.call("PUT", f"{API}/queues/MAIN/config", json={"overflow_queue": "main"})
    assert_error(r, 422, "invalid_value")


# -- PATCH -------------------------------------------------------------------------------------


async def test_patch_name_prefix_and_counters(api: Api) -> None:
    await create_queue(api, "PHARM", counters=["1", "2"])
    first = await join(api)
    assert first["number"] == "A-001"

    r = await api.call(
        "PATCH",
        f"{API}/queues/pharm",
        json={
            "name": "Main pharmacy",
            "prefix": "P",
            "counters": ["1", {"name": "2", "is_open": False}, {"name": "3"}],
        },
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["name"] == "Main pharmacy"
    assert patched["prefix"] == "P"
    assert counters(patched) == {"1": True, "2": False, "3": True}

    r = await api.call("GET", f"{API}/queues/PHARM", role="staff")
    assert r.json() == patched
    # The daily sequence goes on; only the prefix changes.
    assert (await join(api))["number"] == "P-002"
    assert (await status(api))["open_counters"] == 2

    # A field left out stays as it is; removing a counter nobody is at works.
    r = await api.call("PATCH", f"{API}/queues/PHARM", json={"counters": ["1", "3"]})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Main pharmacy"
    assert counters(r.json()) == {"1": True, "3": True}
    r = await api.call("POST", f"{API}/queues/PHARM/call-next", role="staff", json={"counter": "2"})
    assert_error(r, 422, "unknown_counter")


async def test_patch_cannot_remove_a_counter_with_a_patient_at_it(api: Api) -> None:
    await create_queue(api, "PHARM", counters=["1", "2"])
    ticket = await join(api)
    await call_next(api, counter="2")

    r = await api.call("PATCH", f"{API}/queues/PHARM", json={"counters": ["1"]})
    assert_error(r, 422, "invalid_value")
    r = await api.call("GET", f"{API}/queues/PHARM", role="staff")
    assert counters(r.json()) == {"1": True, "2": True}

    # Closing it is fine: the patient stays; once they are done the counter can go.
    closed = {"counters": ["1", {"name": "2", "is_open": False}]}
    r = await api.call("PATCH", f"{API}/queues/PHARM", json=closed)
    assert r.status_code == 200, r.text
    await act_ok(api, ticket["id"], "start")
    r = await api.call("PATCH", f"{API}/queues/PHARM", json={"counters": ["1"]})
    assert_error(r, 422, "invalid_value")
    await act_ok(api, ticket["id"], "complete")
    r = await api.call("PATCH", f"{API}/queues/PHARM", json={"counters": ["1"]})
    assert r.status_code == 200, r.text
    assert counters(r.json()) == {"1": True}


async def test_patch_unknown_queue(api: Api) -> None:
    r = await api.call("PATCH", f"{API}/queues/NOPE", json={"name": "x"})
    assert_error(r, 404, "queue_not_found")


# -- status ------------------------------------------------------------------------------------


async def test_status_of_an_empty_queue(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", capacity=10)
    s = await status(api, "pharm")
    assert s["code"] == "PHARM"
    assert s["size"] == 0
    assert s["capacity"] == 10
    assert s["load_factor"] == 1.0
    assert s["avg_wait_s"] == 0
    assert s["waiting"] == []
    assert s["serving"] == []
    assert s["updated_at"] == clock.now.isoformat()


async def test_status_lists_the_line_with_positions_etas_and_serving(
    api: Api, clock: FakeClock
) -> None:
    await create_queue(api, "PHARM", counters=["1", "2"])
    joined = []
    for priority in (0, 2, 0, 1, 0):
        joined.append(await join(api, priority=priority))
        clock.advance(minutes=1)
    # Now 09:05; the five joined at 09:00 .. 09:04.
    s = await status(api)
    assert s["size"] == 5
    assert s["capacity"] is None
    assert s["avg_wait_s"] == 180.0  # (300 + 240 + 180 + 120 + 60) / 5
    assert s["updated_at"] == clock.now.isoformat()
    assert [w["id"] for w in s["waiting"]] == [t["id"] for t in joined]  # FIFO
    assert [w["number"] for w in s["waiting"]] == ["A-001", "A-002", "A-003", "A-004", "A-005"]
    assert [w["position"] for w in s["waiting"]] == [1, 2, 3, 4, 5]
    assert [w["priority"] for w in s["waiting"]] == [0, 2, 0, 1, 0]
    assert_etas(s["waiting"], free_counters=2)
    assert s["serving"] == []

    called = await call_next(api, counter="2")
    assert called["id"] == joined[0]["id"]
    s = await status(api)
    assert s["size"] == 4
    assert [w["position"] for w in s["waiting"]] == [1, 2, 3, 4]
    assert [w["id"] for w in s["waiting"]] == [t["id"] for t in joined[1:]]
    assert_etas(s["waiting"], free_counters=1)
    assert s["serving"] == [
        {
            "id": joined[0]["id"],
            "number": "A-001",
            "status": "called",
            "counter": "2",
            "called_at": clock.now.isoformat(),
            "service": None,
        }
    ]
    await act_ok(api, called["id"], "start")
    assert (await status(api))["serving"][0]["status"] == "serving"


def assert_etas(waiting: list[dict[str, Any]], free_counters: int, counters: int = 2) -> None:
    """Free counters take the first tickets at once; later ones wait longer or as long,
    and a ticket as many places back as there are counters waits for one more visit."""
    for w in waiting:
        assert all(isinstance(w[k], int) for k in ("eta_s", "eta_low_s", "eta_high_s")), w
        assert 0 <= w["eta_low_s"] <= w["eta_s"] <= w["eta_high_s"], w
    etas = [w["eta_s"] for w in waiting]
    assert etas[:free_counters] == [0] * free_counters
    assert all(eta > 0 for eta in etas[free_counters:]), etas
    assert all(a <= b for a, b in itertools.pairwise(etas)), etas
    assert all(a < b for a, b in zip(etas, etas[counters:], strict=False)), etas


async def test_status_load_factor_follows_the_capacity(api: Api) -> None:
    await create_queue(api, "PHARM", capacity=4)
    factors = []
    for _ in range(4):
        await join(api)
        factors.append((await status(api))["load_factor"])
    # 1/4 and 2/4 of the capacity, then 3/4, then full.
    assert factors == [1.0, 1.2, 1.5, 2.0]


async def test_status_unknown_queue(api: Api) -> None:
    assert_error(await api.call("GET", f"{API}/queues/NOPE/status"), 404, "queue_not_found")


# -- config ------------------------------------------------------------------------------------


async def test_config_defaults(api: Api) -> None:
    await create_queue(api, "PHARM")
    for role in ("admin", "staff", "pharmacist"):
        r = await api.call("GET", f"{API}/queues/pharm/config", role=role)
        assert r.status_code == 200, r.text
        assert r.json() == DEFAULT_CONFIG


async def test_put_config_changes_only_the_fields_sent(api: Api) -> None:
    await create_queue(api, "PHARM")
    await create_queue(api, "SPARE", prefix="S")

    after = await put_config(api, capacity=5)
    assert after == DEFAULT_CONFIG | {"capacity": 5}

    weights = {"priority": 0.2, "wait_time": 0.7, "appointment": 0.1}
    after = await put_config(api, weights=weights, mode="dynamic")
    assert after == DEFAULT_CONFIG | {"capacity": 5, "weights": weights, "mode": "dynamic"}

    everything = {
        "overflow_queue": "SPARE",
        "notify_positions": [5, 2, 1],
        "no_show_grace_s": 120,
        "default_service_s": 240,
        "wait_horizon_s": 1800,
        "appointment_window_s": 900,
        "timezone": "Europe/Berlin",
        "language": "de",
        "wait_alert_s": 1200,
    }
    after = await put_config(api, **everything)
    expected = DEFAULT_CONFIG | {"capacity": 5, "weights": weights, "mode": "dynamic"} | everything
    assert after == expected
    assert await config(api) == expected  # stored, not only echoed

    r = await api.call("GET", f"{API}/queues/PHARM", role="staff")
    assert r.json()["mode"] == "dynamic"
    assert r.json()["capacity"] == 5
    assert r.json()["overflow_queue"] == "SPARE"

    # null clears the two settings that may be unset; an empty body changes nothing.
    after = await put_config(api, capacity=None, overflow_queue=None)
    assert after == expected | {"capacity": None, "overflow_queue": None}
    assert await put_config(api) == after


async def test_put_config_rejects_bad_weights(api: Api) -> None:
    await create_queue(api, "PHARM")
    bad = [
        {"priority": 1.5, "wait_time": 0.3, "appointment": 0.2},
        {"priority": -0.1, "wait_time": 0.3, "appointment": 0.2},
        {"priority": 0.5, "wait_time": 0.3},
        {"priority": "a lot", "wait_time": 0.3, "appointment": 0.2},
        {"priority": 0.5, "wait_time": 0.3, "appointment": 0.2, "luck": 0.1},
    ]
    for weights in bad:
        r = await api.call("PUT", f"{API}/queues/PHARM/config", json={"weights": weights})
        assert_error(r, 422, "validation_error")
    r = await api.call(
        "PUT",
        f"{API}/queues/PHARM/config",
        json={"weights": {"priority": 0, "wait_time": 0, "appointment": 0}},
    )
    assert_error(r, 422, "invalid_value")
    assert await config(api) == DEFAULT_CONFIG


async def test_put_config_rejects_unknown_timezone_and_changes_nothing(api: Api) -> None:
    await create_queue(api, "PHARM")
    for tz in ("Mars/Olympus_Mons", "", "../../etc/passwd", "Europe/"):
        r = await api.call(
            "PUT", f"{API}/queues/PHARM/config", json={"capacity": 3, "timezone": tz}
        )
        assert_error(r, 422, "invalid_value")
    assert await config(api) == DEFAULT_CONFIG
    assert (await put_config(api, timezone="America/New_York"))["timezone"] == "America/New_York"


async def test_put_config_rejects_bad_overflow_queue(api: Api) -> None:
    await create_queue(api, "PHARM")
    for target in ("PHARM", "NOPE"):
        r = await api.call("PUT", f"{API}/queues/PHARM/config", json={"overflow_queue": target})
        assert_error(r, 422, "invalid_value")
    assert (await config(api))["overflow_queue"] is None


async def test_put_config_rejects_other_bad_values(api: Api) -> None:
    await create_queue(api, "PHARM")
    bad: list[dict[str, Any]] = [
        {"mode": "random"},
        {"capacity": 0},
        {"capacity": -3},
        {"capacity": "ten"},
        {"no_show_grace_s": -1},
        {"default_service_s": 0},
        {"wait_horizon_s": 59},
        {"notify_positions": list(range(1, 12))},
        {"notify_positions": "3,1"},
        {"language": "english"},
        {"wait_alert_s": 59},
        {"wait_alert_s": 86401},
        {"wait_alert_s": "an hour"},
        {"colour": "blue"},
    ]
    for body in bad:
        r = await api.call("PUT", f"{API}/queues/PHARM/config", json=body)
        assert_error(r, 422)
    r = await api.call("PUT", f"{API}/queues/PHARM/config", json={"notify_positions": [3, 0]})
    assert_error(r, 422, "invalid_value")
    assert await config(api) == DEFAULT_CONFIG


async def test_call_ladder_round_trip_and_checks(api: Api) -> None:
    await create_queue(api, "PHARM")
    ladder = [{"step": "voice", "after_s": 30}, {"step": "unreachable", "after_s": 120}]
    assert (await put_config(api, call_ladder=ladder))["call_ladder"] == ladder
    assert (await config(api))["call_ladder"] == ladder
    assert (await put_config(api, capacity=4))["call_ladder"] == ladder  # others keep it
    assert (await put_config(api, call_ladder=[]))["call_ladder"] == []
    bad_bodies = [
        [{"step": "fax", "after_s": 30}],
        [{"step": "sms", "after_s": 0}],
        [{"step": "sms", "after_s": 3601}],
        [{"step": "sms"}],
        [{"step": "sms", "after_s": 30, "extra": 1}],
        [{"step": s, "after_s": 30} for s in ("sms", "voice", "unreachable", "sms")],
        None,
    ]
    for body in bad_bodies:
        r = await api.call("PUT", f"{API}/queues/PHARM/config", json={"call_ladder": body})
        assert_error(r, 422, "validation_error")
    for body in (
        [{"step": "sms", "after_s": 30}, {"step": "sms", "after_s": 30}],
        [{"step": "unreachable", "after_s": 30}, {"step": "voice", "after_s": 30}],
    ):
        r = await api.call("PUT", f"{API}/queues/PHARM/config", json={"call_ladder": body})
        assert_error(r, 422, "invalid_value")
    assert (await config(api))["call_ladder"] == []
    r = await api.call(
        "POST",
        f"{API}/queues",
        json={"code": "LAB", "name": "Lab", "prefix": "L", "call_ladder": ladder},
    )
    assert r.status_code == 201, r.text
    assert (await config(api, "LAB"))["call_ladder"] == ladder


async def test_wait_alert_round_trip_and_bounds(api: Api) -> None:
    await create_queue(api, "PHARM")
    assert (await config(api))["wait_alert_s"] == 3600
    for value in (60, 86400, 2700):
        assert (await put_config(api, wait_alert_s=value))["wait_alert_s"] == value
        assert (await config(api))["wait_alert_s"] == value
    for value in (0, 59, 86401, -60, 1.5, True):
        r = await api.call("PUT", f"{API}/queues/PHARM/config", json={"wait_alert_s": value})
        error = assert_error(r, 422, "validation_error")
        assert "wait_alert_s" in error["message"], error
    # Other fields do not reset it.
    assert (await put_config(api, capacity=4))["wait_alert_s"] == 2700


async def test_put_config_null_for_a_required_setting_is_a_validation_error(api: Api) -> None:
    await create_queue(api, "PHARM")
    # null clears these three: no limit, no overflow queue, always open
    for field in DEFAULT_CONFIG.keys() - {"capacity", "overflow_queue", "opening_hours"}:
        r = await api.call("PUT", f"{API}/queues/PHARM/config", json={field: None})
        error = assert_error(r, 422, "validation_error")
        assert field in error["message"], error
    assert await config(api) == DEFAULT_CONFIG


async def test_config_unknown_queue(api: Api) -> None:
    assert_error(await api.call("GET", f"{API}/queues/NOPE/config"), 404, "queue_not_found")
    r = await api.call("PUT", f"{API}/queues/NOPE/config", json={"capacity": 3})
    assert_error(r, 404, "queue_not_found")
