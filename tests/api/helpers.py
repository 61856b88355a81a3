"""Small helpers shared by the API tests: queue set-up, joining, and the error shape."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx

from tests.patient_tokens import with_token

if TYPE_CHECKING:
    from tests.conftest import Api

API = "/api/v1"
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
STAFF_ROLES = ("admin", "staff", "pharmacist")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error shape: `{"error": {"code": snake_case, "message": non-empty}}`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert {"code", "message"} <= set(error) <= {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and SNAKE_CASE.fullmatch(error["code"]), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    if code is not None:
        assert error["code"] == code, error
    return error


async def create_queue(
    api: Api,
    code: str = "PHARM",
    prefix: str = "A",
    counters: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body = {"code": code, "name": f"Queue {code}", "prefix": prefix, **fields}
    body["counters"] = counters if counters is not None else ["1", "2"]
    response = await api.call("POST", f"{API}/queues", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def join(api: Api, code: str = "PHARM", role: str = "staff", **body: Any) -> dict[str, Any]:
    response = await api.call("POST", f"{API}/queues/{code}/tickets", role=role, json=body)
    assert response.status_code == 201, response.text
    return await with_token(response.json())


async def call_next(
    api: Api, code: str = "PHARM", counter: str = "1", role: str = "staff"
) -> dict[str, Any]:
    response = await api.call(
        "POST", f"{API}/queues/{code}/call-next", role=role, json={"counter": counter}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def act(
    api: Api, ticket_id: str, action: str, role: str = "staff", **body: Any
) -> httpx.Response:
    return await api.call("POST", f"{API}/tickets/{ticket_id}/{action}", role=role, json=body)


async def act_ok(
    api: Api, ticket_id: str, action: str, role: str = "staff", **body: Any
) -> dict[str, Any]:
    response = await act(api, ticket_id, action, role, **body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def status(api: Api, code: str = "PHARM", role: str = "staff") -> dict[str, Any]:
    response = await api.call("GET", f"{API}/queues/{code}/status", role=role)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def ticket(api: Api, ticket_id: str, role: str = "staff") -> dict[str, Any]:
    response = await api.call("GET", f"{API}/tickets/{ticket_id}", role=role)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def config(api: Api, code: str = "PHARM") -> dict[str, Any]:
    response = await api.call("GET", f"{API}/queues/{code}/config", role="staff")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def put_config(api: Api, code: str = "PHARM", **body: Any) -> dict[str, Any]:
    response = await api.call("PUT", f"{API}/queues/{code}/config", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
