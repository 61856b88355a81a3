"""Opening hours through the API: the configuration, closed joins (`queue_closed`), a
staff walk-in forced past them and audited, the closing-time refusal (`queue_closing`),
and pause/resume."""

from __future__ import annotations

from typing import Any

from core.storage.models import QueueEventRow
from tests.api.helpers import API, assert_error, create_queue, join, ticket
from tests.conftest import Api, FakeClock

# The test clock starts on Monday 2026-03-02 at 09:00 UTC, 10:00 in Madrid.
HOURS = {"mon": [["08:00", "13:00"], ["14:00", "18:00"]], "tue": [["22:00", "02:00"]]}


async def configure(api: Api, code: str = "PHARM", **fields: Any) -> dict[str, Any]:
    body = {"opening_hours": HOURS, "timezone": "Europe/Madrid", **fields}
    response = await api.call("PUT", f"{API}/queues/{code}/config", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_config_keeps_and_shows_hours_and_closures(api: Api) -> None:
    await create_queue(api)
    config = await configure(api, closures=["2026-12-25", "2026-01-01"], on_close="close_remaining")
    assert config["opening_hours"] == {
        "mon": [["08:00", "13:00"], ["14:00", "18:00"]],
        "tue": [["22:00", "02:00"]],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [],
        "sun": [],
    }
    assert config["closures"] == ["2026-01-01", "2026-12-25"]
    assert config["refuse_past_closing"] is True
    assert config["on_close"] == "close_remaining"
    got = (await api.call("GET", f"{API}/queues/PHARM/config")).json()
    assert got == config
    cleared = await configure(api, opening_hours=None)
    assert cleared["opening_hours"] is None and cleared["closures"] == config["closures"]


async def test_bad_hours_are_refused_with_what_is_wrong(api: Api) -> None:
    await create_queue(api)
    for hours, words in [
        ({"mon": [["08:00", "25:00"]]}, "not a time as HH:MM"),
        ({"lun": []}, "unknown weekday lun"),
        ({"mon": [["09:00", "09:00"]]}, "is empty"),
        ({"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}, "overlaps"),
    ]:
        response = await api.call(
            "PUT", f"{API}/queues/PHARM/config", json={"opening_hours": hours}
        )
        assert words in assert_error(response, 422, "invalid_value")["message"]
    response = await api.call("PUT", f"{API}/queues/PHARM/config", json={"closures": ["25-12"]})
    assert "YYYY-MM-DD" in assert_error(response, 422, "invalid_value")["message"]
    response = await api.call("PUT", f"{API}/queues/PHARM/config", json={"on_close": "later"})
    assert_error(response, 422, "validation_error")


async def test_a_join_while_closed_is_refused_with_the_next_opening(
    api: Api, clock: FakeClock
) -> None:
    await create_queue(api)
    await configure(api)
    clock.advance(hours=3, minutes=30)  # 13:30 in Madrid: lunch
    for role in ("staff", "admin"):
        response = await api.call("POST", f"{API}/queues/PHARM/tickets", role=role, json={})
        error = assert_error(response, 409, "queue_closed")
        assert error["details"] == {"queue": "PHARM", "opens_at": "2026-03-02T13:00:00+00:00"}
    status = (await api.call("GET", f"{API}/queues/PHARM/status")).json()
    assert status["open"] is False and status["opens_at"] == "2026-03-02T13:00:00+00:00"
    assert status["size"] == 0


async def test_a_closure_date_refuses_joins(api: Api) -> None:
    await create_queue(api)
    await configure(api, closures=["2026-03-02"])
    response = await api.call("POST", f"{API}/queues/PHARM/tickets", json={})
    error = assert_error(response, 409, "queue_closed")
    assert error["details"]["opens_at"] == "2026-03-03T21:00:00+00:00"  # Tuesday 22:00


async def test_staff_force_a_walk_in_and_the_history_says_so(api: Api, clock: FakeClock) -> None:
    await create_queue(api)
    await configure(api)
    clock.advance(hours=10)  # 20:00 in Madrid
    for role in ("staff", "admin"):
        joined = await join(api, role=role, force=True, name=f"walk-in {role}")
        history = (await ticket(api, joined["id"]))["history"]
        assert history[0]["type"] == "ticket_joined"
        assert history[0]["data"]["forced"] is True
        assert history[0]["actor"] == f"staff:{role}-user"


async def test_an_ordinary_join_is_not_recorded_as_forced(api: Api) -> None:
    await create_queue(api)
    await configure(api)
    joined = await join(api)
    assert (await ticket(api, joined["id"]))["history"][0]["data"]["forced"] is False


async def test_a_join_that_could_not_be_seen_before_closing_is_refused(
    api: Api, clock: FakeClock
) -> None:
    await create_queue(api, counters=["1"])
    await configure(api, default_service_s=1800)
    clock.advance(hours=2, minutes=10)  # 12:10 in Madrid, closing at 13:00
    await join(api)
    await join(api)
    response = await api.call("POST", f"{API}/queues/PHARM/tickets", json={})
    error = assert_error(response, 409, "queue_closing")
    assert error["details"] == {
        "queue": "PHARM",
        "closes_at": "2026-03-02T12:00:00+00:00",
        "opens_at": "2026-03-02T13:00:00+00:00",
    }
    assert (await api.call("GET", f"{API}/queues/PHARM/status")).json()["size"] == 2
    await configure(api, refuse_past_closing=False)
    await join(api)


async def test_pause_and_resume_stop_and_restart_joins_at_once(api: Api) -> None:
    await create_queue(api)
    response = await api.call(
        "POST",
        f"{API}/queues/PHARM/pause",
        role="pharmacist",
        json={"message": "Fire drill, back soon"},
    )
    assert response.status_code == 200, response.text
    paused = response.json()
    assert paused["open"] is False
    assert paused["paused"]["message"] == "Fire drill, back soon"
    assert paused["paused"]["by"] == "staff:pharmacist-user"
    refused = await api.call("POST", f"{API}/queues/PHARM/tickets", json={})
    error = assert_error(refused, 409, "queue_closed")
    assert error["details"] == {
        "queue": "PHARM",
        "opens_at": None,
        "message": "Fire drill, back soon",
    }
    forced = await join(api, force=True)
    assert forced["status"] == "waiting"
    resumed = await api.call("POST", f"{API}/queues/PHARM/resume", role="staff")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["open"] is True and resumed.json()["paused"] is None
    await join(api)
    audit = await QueueEventRow.filter(queue_code="PHARM").order_by("id")
    assert [(a.type, a.actor, a.data) for a in audit] == [
        ("queue_paused", "staff:pharmacist-user", {"message": "Fire drill, back soon"}),
        ("queue_resumed", "staff:staff-user", {}),
    ]


async def test_pause_messages_are_checked(api: Api) -> None:
    await create_queue(api)
    response = await api.call("POST", f"{API}/queues/PHARM/pause", json={"message": "x" * 161})
    assert_error(response, 422, "validation_error")
    response = await api.call("POST", f"{API}/queues/NOPE/pause", json={})
    assert_error(response, 404)
