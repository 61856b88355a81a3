"""Point 7, web: dates at the ends of the calendar, NUL in forms, logins and filters, and
static paths that name no file are clear 4xx answers, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.web.sessions import console_client, csrf_token

pytestmark = pytest.mark.usefixtures("pharmacy")
EDGES = ["9999-12-31", "0001-01-01", "9998-12-31", "1970-01-01"]


@pytest.mark.parametrize("day", EDGES)
@pytest.mark.parametrize("end", ["from", "to"])
async def test_analytics_and_csv_refuse_days_at_the_ends_of_the_calendar(
    api: Api, day: str, end: str
) -> None:
    query: dict[str, str] = {"queue": "PHARM", end: day}
    if end == "from":
        query["to"] = day
    async with console_client(api, "staff") as client:
        page = await client.get("/console/analytics", params=query)
        csv = await client.get("/console/analytics.csv", params=query)
    if day in ("9998-12-31", "1970-01-01"):  # the last and first days a report may cover
        assert page.status_code == 200 and csv.status_code == 200, (page.text, csv.text)
        return
    assert page.status_code == 400, page.text
    assert "must be between 1970-01-01 and 9998-12-31" in page.text
    assert csv.status_code == 422
    assert "must be between" in csv.json()["error"]["message"]


async def test_nul_in_a_login_is_a_400(api: Api) -> None:
    async with console_client(api, None) as client:
        await client.get("/console/login")
        response = await client.post(
            "/console/login", data={"name": "staff\x00user", "password": "x", "login_token": "t"}
        )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/console/inbox?recipient=%00",
        "/console/analytics?queue=PH%00",
        "/console/analytics.csv?queue=PHARM&from=2026-01-01%00",
        "/console/inbox/messages?seen=%00",
        "/console?x%00=1",
    ],
)
async def test_nul_in_a_filter_is_a_400(api: Api, path: str) -> None:
    async with console_client(api, "admin") as client:
        response = await client.get(path)
    assert response.status_code == 400, response.text


async def test_nul_in_console_forms_is_a_400_and_changes_nothing(
    api: Api, pharmacy: dict[str, Any]
) -> None:
    before = (await api.call("GET", "/api/v1/queues/PHARM/config")).json()
    async with console_client(api, "admin") as client:
        token = await csrf_token(client)
        walk_in = await client.post(
            "/console/queues/PHARM/walk-in", data={"name": "Ann\x00", "csrf_token": token}
        )
        settings = await client.post(
            "/console/queues/PHARM/settings",
            data={"name": "Pharm", "timezone": "Europe/\x00", "csrf_token": token},
        )
    assert walk_in.status_code == 400 and settings.status_code == 400
    assert (await api.call("GET", "/api/v1/queues/PHARM/config")).json() == before
    assert (await api.call("GET", "/api/v1/queues/PHARM/status")).json()["size"] == 1


async def test_nul_in_an_api_query_is_a_400(api: Api) -> None:
    response = await api.call("GET", "/api/v1/queues/PHARM/metrics", params={"since": "\x00"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/static/", "/static/app.css%00.js", "/static/%00"])
async def test_static_paths_naming_no_file_are_404(api: Api, path: str) -> None:
    assert (await api.client.get(path)).status_code == 404
