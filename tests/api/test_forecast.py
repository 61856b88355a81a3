"""GET /queues/{code}/forecast: the next two hours, slot by slot."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from core.storage.models import HourlyMetric, QueueRow
from tests.api.helpers import (
    API,
    STAFF_ROLES,
    assert_error,
    call_next,
    create_queue,
    join,
    put_config,
)
from tests.conftest import Api, FakeClock


async def forecast(api: Api, code: str = "PHARM", role: str = "staff") -> dict[str, Any]:
    response = await api.call("GET", f"{API}/queues/{code}/forecast", role=role)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("role", STAFF_ROLES)
async def test_eight_quarters_from_now_with_a_line_that_drains(
    api: Api, clock: FakeClock, role: str
) -> None:
    await create_queue(api, counters=["1"])
    for _ in range(12):
        await join(api)
    await call_next(api)
    body = await forecast(api, role=role)
    assert body["generated_at"] == clock.now.isoformat() and body["open_counters"] == 1
    slots = body["slots"]
    assert [datetime.fromisoformat(s["start"]) - clock.now for s in slots] == [
        timedelta(minutes=15 * n) for n in range(8)
    ]
    assert all(
        datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"])
        == timedelta(minutes=15)
        for s in slots
    )
    # No arrivals learned yet: the 11 waiting are served at about 5 min each.
    lengths = [s["line_length"] for s in slots]
    assert 8 < lengths[0] <= 11 and lengths == sorted(lengths, reverse=True)
    assert lengths[-1] < 1
    assert 30 * 60 < slots[0]["p90_wait_s"] < 120 * 60
    for slot in slots:
        assert slot["open"] is True
        assert slot["line_length_plus_one"] <= slot["line_length"]
        assert slot["p90_wait_s_plus_one"] <= slot["p90_wait_s"]
    assert slots[0]["p90_wait_s_plus_one"] < slots[0]["p90_wait_s"] * 0.75


async def test_arrivals_are_learned_from_the_last_weeks_hours(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", counters=["1"])
    await create_queue(api, "LAB", prefix="L", counters=["1"])
    pharm = await QueueRow.get(code="PHARM")
    for back in range(1, 8):  # 20 joined at 09:00-10:00 on each of the last seven days
        hour = clock.now - timedelta(days=back)
        await HourlyMetric.create(queue=pharm, hour_start=hour, joined=20)
    await HourlyMetric.create(queue=pharm, hour_start=clock.now, joined=500)  # not over yet
    await HourlyMetric.create(queue=pharm, hour_start=clock.now - timedelta(days=9), joined=500)
    busy, quiet = await forecast(api, "PHARM"), await forecast(api, "LAB")
    # 20 an hour at 5 minutes each: a line that grows by about 8 an hour on one counter,
    # not by the hundreds the rows outside the week would make it.
    lengths = [s["line_length"] for s in busy["slots"][:4]]
    assert 2 < lengths[-1] < 10 and lengths[0] < lengths[-1]
    assert busy["slots"][3]["p90_wait_s"] > 15 * 60
    assert all(s["line_length"] == 0 for s in quiet["slots"])
    assert all(s["p90_wait_s"] == 0 for s in quiet["slots"])
    # 10:00-11:00 learned nothing: only those still in line wait then.
    assert busy["slots"][-1]["line_length"] < lengths[-1]


async def test_no_joins_while_closed(api: Api, clock: FakeClock) -> None:
    await create_queue(api, counters=["1"])
    week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    await put_config(api, opening_hours={day: [["08:00", "10:00"]] for day in week})
    await join(api)
    slots = (await forecast(api))["slots"]  # 09:00: open for four more quarters
    assert [s["open"] for s in slots] == [True] * 4 + [False] * 4
    assert all(s["p90_wait_s"] is not None for s in slots[:4])
    assert all(s["p90_wait_s"] is None and s["p90_wait_s_plus_one"] is None for s in slots[4:])


async def test_an_unknown_queue_is_404(api: Api) -> None:
    await create_queue(api)
    response = await api.call("GET", f"{API}/queues/NOPE/forecast", role="staff")
    assert_error(response, 404, "queue_not_found")
    response = await api.call("GET", f"{API}/queues/no%20pe/forecast", role="staff")
    assert_error(response, 404)


async def test_it_is_in_the_openapi_document(api: Api) -> None:
    spec = (await api.call("GET", "/openapi.json", role=None)).json()
    operation = spec["paths"]["/api/v1/queues/{code}/forecast"]["get"]
    assert "p90 wait" in operation["summary"]
    assert {"401", "403", "404"} <= set(operation["responses"])
