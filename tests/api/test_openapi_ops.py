"""The OpenAPI document and /docs, and the operations endpoints."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.storage import db
from nextup.wiring import Container
from tests.api.helpers import API, create_queue
from tests.conftest import Api
from web.api.docs import openapi_path
from web.api.endpoint import REGISTRY

CONTRACT_ROUTES = {
    ("GET", "/api/v1/queues"),
    ("POST", "/api/v1/queues"),
    ("GET", "/api/v1/queues/{code}"),
    ("PATCH", "/api/v1/queues/{code}"),
    ("GET", "/api/v1/queues/{code}/status"),
    ("POST", "/api/v1/queues/{code}/tickets"),
    ("POST", "/api/v1/queues/{code}/call-next"),
    ("POST", "/api/v1/queues/{code}/reposition"),
    ("POST", "/api/v1/queues/{code}/pause"),
    ("POST", "/api/v1/queues/{code}/resume"),
    ("GET", "/api/v1/queues/{code}/config"),
    ("PUT", "/api/v1/queues/{code}/config"),
    ("GET", "/api/v1/queues/{code}/analytics"),
    ("GET", "/api/v1/queues/{code}/metrics"),
    ("GET", "/api/v1/tickets/{id}"),
    ("POST", "/api/v1/tickets/{id}/{action}"),
    ("GET", "/api/v1/public/tickets/{token}"),
    ("POST", "/api/v1/privacy/export"),
    ("POST", "/api/v1/privacy/erase"),
    # issue 18: staff's message to the line, the daily summary
    ("POST", "/api/v1/queues/{code}/broadcast"),
    ("GET", "/api/v1/queues/{code}/report"),
    # issue 20: the next two hours
    ("GET", "/api/v1/queues/{code}/forecast"),
}
"""The REST API v1 table of the contract (/work/shared/design/contract.md), and the
routes added since (CHANGES.md): a patient's access and erasure requests, pausing and
resuming joins, broadcast, the daily report, the two-hour forecast."""
KINDS_OF_VISIT = {"service_times_s", "fairness_cap_s"}
"""Settings of the kinds of visit and of `short_first` mode (README: changes to the contract)."""
OPENING_HOURS = {"opening_hours", "closures", "refuse_past_closing", "on_close"}
"""Settings of opening hours and closing time (CHANGES.md)."""
BODIES = {
    ("POST", "/api/v1/queues"): (
        {"code", "name", "prefix", "mode", "capacity", "counters"} | KINDS_OF_VISIT,
        {"code", "name", "prefix"},
    ),
    ("PATCH", "/api/v1/queues/{code}"): (
        {"name", "prefix", "counters", "mode"} | KINDS_OF_VISIT,
        set(),
    ),
    ("POST", "/api/v1/queues/{code}/tickets"): (
        {
            "priority",
            "appointment_at",
            "name",
            "phone",
            "telegram_chat_id",
            "language",
            "service",
            "force",
        },
        set(),
    ),
    ("POST", "/api/v1/queues/{code}/pause"): ({"message"}, set()),
    ("POST", "/api/v1/queues/{code}/call-next"): ({"counter"}, {"counter"}),
    ("PUT", "/api/v1/queues/{code}/config"): (
        {"weights", "mode", "capacity", "overflow_queue", "notify_positions", "no_show_grace_s"}
        | KINDS_OF_VISIT
        | OPENING_HOURS,
        set(),
    ),
    ("POST", "/api/v1/tickets/{id}/{action}"): ({"counter", "queue"}, set()),
    ("POST", "/api/v1/privacy/export"): ({"phone", "telegram_chat_id"}, set()),
    ("POST", "/api/v1/privacy/erase"): ({"phone", "telegram_chat_id"}, set()),
    ("POST", "/api/v1/queues/{code}/broadcast"): ({"text", "to"}, {"text"}),
}
"""Request bodies: (fields the contract names, fields that are required)."""


def shape(path: str) -> str:
    """A path with its parameter names left out: `/tickets/{id}` == `/tickets/{ticket_id}`."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), shape(path)): op
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/components/schemas/"), ref
    resolved: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in all_refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in all_refs(v)]
    return []


@pytest.fixture
async def spec(api: Api) -> dict[str, Any]:
    r = await api.call("GET", "/openapi.json", role=None)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    result: dict[str, Any] = r.json()
    return result


async def test_openapi_lists_every_route(api: Api, spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    documented = {(m, shape(p)) for m, p in operations(spec)}
    served = {
        (method, shape(openapi_path(route.uri)))
        for route in api.app.router.routes
        if route.uri.startswith("/api/")
        for method in route.methods
    }
    registry = {(e.method, shape(openapi_path(e.path))) for e in REGISTRY}
    contract = {(m, shape(p)) for m, p in CONTRACT_ROUTES}
    assert documented == served
    assert documented == registry
    assert documented == contract
    op_ids = [op["operationId"] for op in operations(spec).values()]
    assert len(op_ids) == len(set(op_ids))


async def test_openapi_path_parameters_match_the_path(spec: dict[str, Any]) -> None:
    for path, ops in spec["paths"].items():
        names = re.findall(r"\{(\w+)\}", path)
        for op in ops.values():
            params = [p for p in op["parameters"] if p["in"] == "path"]
            assert [p["name"] for p in params] == names, path
            assert all(p["required"] for p in params)


async def test_openapi_staff_routes_need_a_bearer_token(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for (method, path), op in operations(spec).items():
        if path.startswith("/api/v1/public/"):
            assert not op.get("security"), (method, path)
            assert "401" not in op["responses"]
        else:
            assert op["security"] == [{"bearer": []}], (method, path)
            assert {"401", "403"} <= set(op["responses"]), (method, path)
    admin_only = {
        (m, p) for (m, p), op in operations(spec).items() if op.get("description") == "Roles: admin"
    }
    assert admin_only == {
        ("POST", "/api/v1/queues"),
        ("PATCH", "/api/v1/queues/{}"),
        ("PUT", "/api/v1/queues/{}/config"),
        ("POST", "/api/v1/privacy/export"),
        ("POST", "/api/v1/privacy/erase"),
    }


async def test_openapi_request_bodies(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    with_body = {key for key, op in ops.items() if "requestBody" in op}
    assert with_body == {(m, shape(p)) for m, p in BODIES}
    for (method, path), (fields, required) in BODIES.items():
        content = ops[(method, shape(path))]["requestBody"]["content"]
        schema = resolve(spec, content["application/json"]["schema"])
        assert schema["type"] == "object"
        assert fields <= set(schema["properties"]), (path, set(schema["properties"]))
        assert set(schema.get("required", [])) == required, path
        assert schema.get("additionalProperties") is False, path  # unknown fields are refused
    join_op = ops[("POST", "/api/v1/queues/{}/tickets")]
    join = resolve(spec, join_op["requestBody"]["content"]["application/json"]["schema"])
    assert join["properties"]["priority"]["maximum"] == 3
    assert join["properties"]["priority"]["minimum"] == 0
    weights = spec["components"]["schemas"]["WeightsBody"]
    assert set(weights["properties"]) == {"priority", "wait_time", "appointment"}
    assert spec["components"]["schemas"]["QueueMode"]["enum"] == ["fifo", "dynamic", "short_first"]
    create_op = ops[("POST", "/api/v1/queues")]
    create = resolve(spec, create_op["requestBody"]["content"]["application/json"]["schema"])
    kinds = create["properties"]["service_times_s"]
    assert kinds["type"] == "object" and kinds["maxProperties"] == 12
    assert kinds["patternProperties"] == {
        "^[a-z0-9_-]{1,32}$": {"type": "integer", "minimum": 1, "maximum": 28800}
    }
    cap = create["properties"]["fairness_cap_s"]
    assert (cap["minimum"], cap["maximum"], cap["default"]) == (60, 14400, 1200)
    # Every reference in the document points at a schema that exists.
    for ref in all_refs(spec):
        assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], ref


async def test_openapi_responses_and_errors(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    assert set(ops[("POST", "/api/v1/queues")]["responses"]) >= {"201", "409", "422"}
    assert "200" not in ops[("POST", "/api/v1/queues")]["responses"]
    join = ops[("POST", "/api/v1/queues/{}/tickets")]["responses"]
    assert "201" in join and "200" not in join
    assert "queue_full" in join["409"]["description"]
    assert "queue_closed" in join["409"]["description"]
    assert "queue_closing" in join["409"]["description"]
    call_next = ops[("POST", "/api/v1/queues/{}/call-next")]["responses"]
    assert "queue_empty" in call_next["409"]["description"]
    action = ops[("POST", "/api/v1/tickets/{}/{}")]["responses"]
    assert "illegal_transition" in action["409"]["description"]
    assert "ticket_not_found" in action["404"]["description"]
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    for op in ops.values():
        assert any(status.startswith("2") for status in op["responses"])
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}


async def test_docs_page_mentions_every_path(api: Api, spec: dict[str, Any]) -> None:
    r = await api.call("GET", "/docs", role=None)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<html" in page and "/openapi.json" in page
    for path, ops in spec["paths"].items():
        assert f"<code>{path}</code>" in page, path
        for method in ops:
            assert re.search(rf">{method.upper()}</span> <code>{re.escape(path)}</code>", page), (
                method,
                path,
            )
    assert "http://" not in page.replace(api.base_url, "")  # nothing from a CDN


# -- operations --------------------------------------------------------------------------------


async def test_healthz(api: Api) -> None:
    r = await api.call("GET", "/healthz", role=None)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_checks_database_and_bus(
    api: Api, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await api.call("GET", "/readyz", role=None)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "bus": "ok"}}

    async def unreachable() -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setattr(container.bus, "ping", unreachable)
    r = await api.call("GET", "/readyz", role=None)
    assert r.status_code == 503
    assert r.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "bus": "error: ConnectionError"},
    }
    monkeypatch.setattr(db, "ping", unreachable)
    r = await api.call("GET", "/readyz", role=None)
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "error: ConnectionError"


def requests_total(text: str, method: str, status: int) -> float:
    """Summed over the routes."""
    labels = rf'method="{method}",route="[^"]*",status="{status}"'
    found = re.findall(rf"^nextup_http_requests_total\{{{labels}\}} (\S+)$", text, re.MULTILINE)
    return sum(float(n) for n in found)


async def test_prometheus_metrics_count_requests(api: Api) -> None:
    await create_queue(api, "PHARM")
    r = await api.call("GET", "/metrics", role=None)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE nextup_http_requests_total counter" in r.text
    assert "nextup_http_request_seconds_bucket" in r.text
    before_404 = requests_total(r.text, "GET", 404)
    before_201 = requests_total(r.text, "POST", 201)
    assert before_201 >= 1  # the queue made above

    for _ in range(3):
        await api.call("GET", f"{API}/queues/NOPE", role="staff")
    await api.call("POST", f"{API}/queues/PHARM/tickets", role="staff", json={})
    r = await api.call("GET", "/metrics", role=None)
    assert requests_total(r.text, "GET", 404) == before_404 + 3
    assert requests_total(r.text, "POST", 201) == before_201 + 1
