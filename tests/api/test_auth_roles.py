"""Authentication (bearer tokens) and roles, table-driven over every endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import web.api.routes  # noqa: F401  (its import registers every endpoint in REGISTRY)
from core.storage.models import StaffAccount
from tests.api.helpers import (
    API,
    STAFF_ROLES,
    act_ok,
    assert_error,
    config,
    create_queue,
    join,
    status,
    ticket,
)
from tests.conftest import Api
from tests.patient_tokens import with_token
from web.api.docs import openapi_path
from web.api.endpoint import REGISTRY


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """OpenAPI form; `{code}`, `{ticket_id}` and `{action}` are filled in per test."""
    body: dict[str, Any] | None = None
    admin_only: bool = False


STAFF_ROUTES = [
    Route("GET", "/api/v1/queues"),
    Route("POST", "/api/v1/queues", {"code": "NEW", "name": "New", "prefix": "N"}, True),
    Route("GET", "/api/v1/queues/{code}"),
    Route("PATCH", "/api/v1/queues/{code}", {"name": "Renamed"}, True),
    Route("GET", "/api/v1/queues/{code}/status"),
    Route("GET", "/api/v1/queues/{code}/forecast"),
    Route("POST", "/api/v1/queues/{code}/tickets", {}),
    Route("POST", "/api/v1/queues/{code}/call-next", {"counter": "1"}),
    Route("POST", "/api/v1/queues/{code}/reposition"),
    Route("POST", "/api/v1/queues/{code}/pause", {}),
    Route("POST", "/api/v1/queues/{code}/resume"),
    Route("POST", "/api/v1/queues/{code}/broadcast", {"text": "Back at 14:00", "to": "waiting"}),
    Route("GET", "/api/v1/queues/{code}/report"),
    Route("GET", "/api/v1/queues/{code}/config"),
    Route("PUT", "/api/v1/queues/{code}/config", {"capacity": 50}, True),
    Route("GET", "/api/v1/queues/{code}/analytics"),
    Route("GET", "/api/v1/queues/{code}/metrics"),
    Route("GET", "/api/v1/tickets/{ticket_id}"),
    Route("POST", "/api/v1/tickets/{ticket_id}/{action}", {}),
    Route("POST", "/api/v1/privacy/export", {"phone": "+34600999888"}, True),
    Route("POST", "/api/v1/privacy/erase", {"phone": "+34600999888"}, True),
]
PUBLIC_ROUTES = [Route("GET", "/api/v1/public/tickets/{token}")]


def url(route: Route, ticket: dict[str, Any], action: str = "recall") -> str:
    return route.path.format(
        code=ticket["queue"], ticket_id=ticket["id"], action=action, token=ticket["token"]
    )


async def setup_queue(api: Api) -> dict[str, Any]:
    """A queue with one called ticket (so every route has something to act on)."""
    await create_queue(api, "PHARM")
    t = await join(api)
    return await with_token(await act_ok(api, t["id"], "call", counter="1"))


def test_the_tables_cover_every_registered_route() -> None:
    registered = {(e.method, openapi_path(e.path), e.roles is None) for e in REGISTRY}
    tabled = {(r.method, r.path, False) for r in STAFF_ROUTES} | {
        (r.method, r.path, True) for r in PUBLIC_ROUTES
    }
    assert tabled == registered
    admin_only = {(e.method, openapi_path(e.path)) for e in REGISTRY if e.roles == {"admin"}}
    assert admin_only == {(r.method, r.path) for r in STAFF_ROUTES if r.admin_only}


async def test_no_credentials_is_unauthorized_everywhere(api: Api) -> None:
    t = await setup_queue(api)
    before = (await status(api), await ticket(api, t["id"]), await config(api))
    for route in STAFF_ROUTES:
        r = await api.call(route.method, url(route, t), role=None, json=route.body)
        error = assert_error(r, 401, "unauthorized")
        assert "Bearer" in error["message"], route
        assert r.headers.get("www-authenticate") == "Bearer", route
        # Nothing is revealed before authentication: an unknown queue is a 401 too.
        missing = {"queue": "NOPE", "id": "nope", "token": "nope"}
        r = await api.call(route.method, url(route, missing), role=None, json=route.body)
        assert_error(r, 401, "unauthorized")
        # Authentication comes before reading the body.
        r = await api.call(route.method, url(route, t), role=None, content=b"{not json")
        assert_error(r, 401, "unauthorized")
    assert (await status(api), await ticket(api, t["id"]), await config(api)) == before
    r = await api.call("GET", f"{API}/queues", role="admin")
    assert [q["code"] for q in r.json()] == ["PHARM"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nxt_not-a-real-token",
        "Bearer {admin} {admin}",
        "Bearer",
        "Basic YWRtaW4tdXNlcjpjb3JyZWN0IGhvcnNl",
        "Token {admin}",
        "{admin}",
        "Bearer {admin}x",
        "Bearer {admin_prefix}",
    ],
)
async def test_bad_credentials_are_unauthorized(api: Api, header: str) -> None:
    t = await setup_queue(api)
    token = api.tokens["admin"]
    value = header.format(admin=token, admin_prefix=token[:-1])
    for route in STAFF_ROUTES:
        r = await api.call(
            route.method,
            url(route, t),
            role=None,
            json=route.body,
            headers={"Authorization": value},
        )
        assert_error(r, 401, "unauthorized")


async def test_scheme_is_case_insensitive(api: Api) -> None:
    await create_queue(api, "PHARM")
    for scheme in ("bearer", "BEARER", "Bearer"):
        headers = {"Authorization": f"{scheme} {api.tokens['staff']}"}
        r = await api.call("GET", f"{API}/queues/PHARM", role=None, headers=headers)
        assert r.status_code == 200, (scheme, r.text)


async def test_a_deactivated_account_is_unauthorized(api: Api) -> None:
    await create_queue(api, "PHARM")
    assert (await api.call("GET", f"{API}/queues", role="staff")).status_code == 200
    await StaffAccount.filter(name="staff-user").update(is_active=False)
    assert_error(await api.call("GET", f"{API}/queues", role="staff"), 401, "unauthorized")
    assert (await api.call("GET", f"{API}/queues", role="pharmacist")).status_code == 200


@pytest.mark.parametrize("role", ["staff", "pharmacist"])
async def test_admin_only_routes_are_forbidden_to_other_roles(api: Api, role: str) -> None:
    t = await setup_queue(api)
    before = (await api.call("GET", f"{API}/queues")).json(), await config(api)
    for route in STAFF_ROUTES:
        if not route.admin_only:
            continue
        r = await api.call(route.method, url(route, t), role=role, json=route.body)
        error = assert_error(r, 403, "forbidden")
        assert "admin" in error["message"]
        # The role is checked before the body is read.
        r = await api.call(route.method, url(route, t), role=role, content=b"[]")
        assert_error(r, 403, "forbidden")
    assert ((await api.call("GET", f"{API}/queues")).json(), await config(api)) == before


async def test_admin_may_use_the_admin_only_routes(api: Api) -> None:
    t = await setup_queue(api)
    expected = {"POST": 201, "PATCH": 200, "PUT": 200}
    for route in STAFF_ROUTES:
        if route.admin_only:
            r = await api.call(route.method, url(route, t), role="admin", json=route.body)
            # A privacy request creates nothing: it answers 200.
            status = 200 if "/privacy/" in route.path else expected[route.method]
            assert r.status_code == status, (route, r.text)
    assert (await config(api))["capacity"] == 50
    r = await api.call("GET", f"{API}/queues", role="staff")
    assert {q["code"]: q["name"] for q in r.json()} == {"NEW": "New", "PHARM": "Renamed"}


@pytest.mark.parametrize("role", STAFF_ROLES)
async def test_every_staff_role_reads_joins_calls_and_acts(api: Api, role: str) -> None:
    await create_queue(api, "PHARM")
    await create_queue(api, "LAB", prefix="L")
    t = await join(api, role=role)
    for route in STAFF_ROUTES:
        if route.method == "GET":
            r = await api.call(route.method, url(route, t), role=role)
            assert r.status_code == 200, (role, route, r.text)

    r = await api.call("POST", f"{API}/queues/PHARM/call-next", role=role, json={"counter": "2"})
    assert r.status_code == 200 and r.json()["id"] == t["id"], r.text
    steps: list[tuple[str, dict[str, str]]] = [
        ("recall", {}),
        ("no-show", {}),
        ("return", {}),
        ("call", {"counter": "1"}),
        ("start", {}),
        ("transfer", {"queue": "LAB"}),
        ("cancel", {}),
    ]
    for action, body in steps:
        await act_ok(api, t["id"], action, role=role, **body)
    r = await api.call("POST", f"{API}/queues/PHARM/reposition", role=role)
    assert r.status_code == 200, r.text

    history = (await ticket(api, t["id"], role=role))["history"]
    assert {e["actor"] for e in history} == {f"staff:{role}-user"}
    assert len([e for e in history if e["type"] != "position_changed"]) == 10


async def test_public_routes_and_docs_need_no_credentials(api: Api) -> None:
    t = await setup_queue(api)
    for route in PUBLIC_ROUTES:
        r = await api.call(route.method, url(route, t), role=None)
        assert r.status_code == 200, (route, r.text)
    for path in ("/openapi.json", "/docs", "/healthz", "/readyz", "/metrics"):
        r = await api.call("GET", path, role=None)
        assert r.status_code == 200, (path, r.text)
