"""GET /queues/{code}/report?day=: the daily summary of one local day."""

from __future__ import annotations

import pytest

from tests.api.helpers import API, STAFF_ROLES, assert_error, call_next, create_queue, join
from tests.conftest import Api, FakeClock


@pytest.mark.parametrize("role", STAFF_ROLES)
async def test_the_day_of_a_queue(api: Api, clock: FakeClock, role: str) -> None:
    await create_queue(api)
    await join(api)
    await join(api)
    clock.advance(minutes=12)
    await call_next(api)
    response = await api.call("GET", f"{API}/queues/PHARM/report?day=2026-03-02", role=role)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "code": "PHARM",
        "name": "Queue PHARM",
        "day": "2026-03-02",
        "timezone": "UTC",
        "visits": 2,
        "completed": 0,
        "no_shows": 0,
        "cancelled": 0,
        "mean_wait_s": 720.0,
        "p90_wait_s": 720.0,
        "average_rating": None,
        "ratings": 0,
        "sms_segments": 0,
        "failed_notifications": 0,
    }


async def test_without_a_day_the_last_day_over(api: Api) -> None:
    await create_queue(api)
    await join(api)  # today, 2 March: not over yet
    response = await api.call("GET", f"{API}/queues/PHARM/report", role="staff")
    assert (response.json()["day"], response.json()["visits"]) == ("2026-03-01", 0)


@pytest.mark.parametrize("day", ["yesterday", "2026-02-30", "2026-3-2x", "", "0001-01-01"])
async def test_a_bad_day_is_422(api: Api, day: str) -> None:
    await create_queue(api)
    response = await api.call("GET", f"{API}/queues/PHARM/report?day={day}", role="staff")
    error = assert_error(response, 422, "invalid_value")
    assert "2026-03-02" in error["message"] or "between" in error["message"]


async def test_auth_and_unknown_queue(api: Api) -> None:
    await create_queue(api)
    assert_error(await api.call("GET", f"{API}/queues/PHARM/report?day=2026-03-02", role=None), 401)
    response = await api.call("GET", f"{API}/queues/NOPE/report?day=2026-03-02", role="staff")
    assert_error(response, 404, "queue_not_found")
