"""Bad input gets a 4xx in the contract's error shape, never a 500."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import API, assert_error, config, create_queue, join, status, ticket
from tests.conftest import Api
from web.api.docs import openapi_path
from web.api.endpoint import REGISTRY

BODY_ROUTES = [
    ("POST", "/api/v1/queues"),
    ("PATCH", "/api/v1/queues/PHARM"),
    ("POST", "/api/v1/queues/PHARM/tickets"),
    ("POST", "/api/v1/queues/PHARM/call-next"),
    ("POST", "/api/v1/queues/PHARM/pause"),
    ("PUT", "/api/v1/queues/PHARM/config"),
    ("POST", "/api/v1/tickets/{ticket_id}/recall"),
    ("POST", "/api/v1/tickets/{ticket_id}/transfer"),
    ("POST", "/api/v1/privacy/export"),
    ("POST", "/api/v1/privacy/erase"),
]
QUEUE_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("PATCH", "", {"name": "x"}),
    ("GET", "/status", None),
    ("POST", "/tickets", {}),
    ("POST", "/call-next", {"counter": "1"}),
    ("POST", "/reposition", None),
    ("POST", "/pause", {}),
    ("POST", "/resume", None),
    ("GET", "/config", None),
    ("PUT", "/config", {"capacity": 3}),
    ("GET", "/analytics", None),
    ("GET", "/metrics", None),
]
MALFORMED = [
    b"{",
    b'{"priority": }',
    b"{'priority': 1}",
    b'{"priority": 1,}',
    b"[]",
    b'[{"counter": "1"}]',
    b'"counter"',
    b"42",
    b"null",
    b"true",
    b"\xff\xfe{\x00}",
    b'{"name": "\xe9"}',
    b"[" * 30000 + b"]" * 30000,
    b'{"a":' * 10000 + b"1" + b"}" * 10000,
]


async def one_called_ticket(api: Api) -> dict[str, Any]:
    await create_queue(api, "PHARM")
    await create_queue(api, "LAB", prefix="L")
    t = await join(api)
    r = await api.call("POST", f"{API}/tickets/{t['id']}/call", json={"counter": "1"})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def snapshot(api: Api, ticket_id: str) -> Any:
    queues = (await api.call("GET", f"{API}/queues")).json()
    return queues, await status(api), await config(api), await ticket(api, ticket_id)


async def test_malformed_json_is_a_400(api: Api) -> None:
    t = await one_called_ticket(api)
    before = await snapshot(api, t["id"])
    for method, path in BODY_ROUTES:
        for body in MALFORMED:
            r = await api.call(
                method,
                path.format(ticket_id=t["id"]),
                content=body,
                headers={"Content-Type": "application/json"},
            )
            assert_error(r, 400, "malformed_json")
    assert await snapshot(api, t["id"]) == before


async def test_unknown_fields_are_rejected(api: Api) -> None:
    t = await one_called_ticket(api)
    before = await snapshot(api, t["id"])
    bodies = {
        "/api/v1/queues": {"code": "NEW", "name": "N", "prefix": "N", "colour": "red"},
        "/api/v1/queues/PHARM": {"name": "N", "capacity": 5},
        "/api/v1/queues/PHARM/tickets": {"priority": 1, "vip": True},
        "/api/v1/queues/PHARM/call-next": {"counter": "1", "urgent": True},
        "/api/v1/queues/PHARM/pause": {"message": "Fire drill", "until": "11:00"},
        "/api/v1/queues/PHARM/config": {
            "capacity": 5,
            "weights": {"priority": 1, "wait_time": 0, "appointment": 0, "luck": 1},
        },
        "/api/v1/tickets/{ticket_id}/recall": {"reason": "deaf"},
        "/api/v1/tickets/{ticket_id}/transfer": {"queue": "LAB", "to": "LAB"},
        "/api/v1/privacy/export": {"phone": "+34600111222", "name": "Ana"},
        "/api/v1/privacy/erase": {"telegram_chat_id": 1, "everything": True},
    }
    assert set(bodies) == {path for _, path in BODY_ROUTES}
    for method, path in BODY_ROUTES:
        r = await api.call(method, path.format(ticket_id=t["id"]), json=bodies[path])
        error = assert_error(r, 422, "validation_error")
        assert "xtra" in error["message"] or "not permitted" in error["message"], error
        assert isinstance(error["details"], list) and error["details"], error
    assert await snapshot(api, t["id"]) == before


JOIN_BAD: list[dict[str, Any]] = [
    {"priority": "high"},
    {"priority": 9},
    {"priority": 4},
    {"priority": -1},
    {"priority": 1.5},
    {"priority": None},
    {"priority": [1]},
    {"appointment_at": "2026-03-02T10:00:00"},
    {"appointment_at": "2026-03-02"},
    {"appointment_at": "tomorrow at ten"},
    {"appointment_at": "9999-12-31T23:00:00-14:00"},
    {"appointment_at": "0001-01-01T00:00:00+14:00"},
    {"name": "x" * 129},
    {"name": 42},
    {"name": "Nul\x00Byte"},
    {"phone": "call me maybe"},
    {"phone": "+1"},
    {"phone": "+49 151\x00"},
    {"telegram_chat_id": "abc"},
    {"telegram_chat_id": 1.5},
    {"telegram_chat_id": 10**30},
    {"telegram_chat_id": -(10**30)},
    {"language": "english"},
    {"language": 7},
]


async def test_join_with_wrong_types_or_values(api: Api) -> None:
    await create_queue(api, "PHARM")
    for body in JOIN_BAD:
        r = await api.call("POST", f"{API}/queues/PHARM/tickets", role="staff", json=body)
        error = assert_error(r, 422, "validation_error")
        assert next(iter(body)) in error["message"], (body, error)
    assert (await status(api))["size"] == 0


async def test_a_number_that_looks_right_but_is_not_one_is_refused(api: Api) -> None:
    await create_queue(api, "PHARM")
    for phone, says in (
        ("600 111 222", "no country code"),  # local, and no NEXTUP_PHONE_REGION to read it by
        ("+1 234 56", "not a phone number"),
    ):
        r = await api.call("POST", f"{API}/queues/PHARM/tickets", json={"phone": phone})
        error = assert_error(r, 422, "invalid_value")
        assert error["message"].startswith("phone:") and says in error["message"], error
    assert (await status(api))["size"] == 0


async def test_naive_appointment_time_says_what_is_missing(api: Api) -> None:
    await create_queue(api, "PHARM")
    r = await api.call(
        "POST", f"{API}/queues/PHARM/tickets", json={"appointment_at": "2026-03-02T10:00:00"}
    )
    error = assert_error(r, 422, "validation_error")
    assert "time zone" in error["message"]
    assert error["details"][0]["field"] == "appointment_at"


QUEUE_BAD: list[dict[str, Any]] = [
    {"code": "bad code!"},
    {"code": ""},
    {"code": "X" * 33},
    {"code": 7},
    {"code": "Nul\x00"},
    {"prefix": "a"},
    {"prefix": "TOOLONGPREFIX"},
    {"prefix": ""},
    {"name": ""},
    {"name": "x" * 129},
    {"name": "Nul\x00"},
    {"mode": "lifo"},
    {"capacity": 0},
    {"capacity": -1},
    {"capacity": "big"},
    {"capacity": 1.5},
    {"capacity": 10**30},
    {"counters": []},
    {"counters": [""]},
    {"counters": "1"},
    {"counters": ["x" * 33]},
    {"counters": [1]},
    {"counters": ["Nul\x00"]},
    {"overflow_queue": "bad code!"},
]


async def test_create_queue_with_wrong_types_or_values(api: Api) -> None:
    valid = {"code": "NEW", "name": "New", "prefix": "N"}
    for change in QUEUE_BAD:
        r = await api.call("POST", f"{API}/queues", json=valid | change)
        error = assert_error(r, 422, "validation_error")
        assert next(iter(change)) in error["message"], (change, error)
    for missing in valid:
        body = {k: v for k, v in valid.items() if k != missing}
        error = assert_error(await api.call("POST", f"{API}/queues", json=body), 422)
        assert missing in error["message"]
    assert (await api.call("GET", f"{API}/queues")).json() == []


async def test_patch_queue_with_wrong_types_or_values(api: Api) -> None:
    await create_queue(api, "PHARM")
    before = (await api.call("GET", f"{API}/queues/PHARM")).json()
    bad: list[dict[str, Any]] = [
        {"prefix": "lower"},
        {"name": ""},
        {"name": None, "prefix": "no"},
        {"counters": []},
        {"counters": [{"name": ""}]},
        {"counters": [{"nom": "x"}]},
        {"counters": [{"name": "1", "is_open": "perhaps"}]},
        {"counters": [{"name": "x\x00"}]},
        {"counters": {"1": True}},
    ]
    for body in bad:
        r = await api.call("PATCH", f"{API}/queues/PHARM", json=body)
        assert_error(r, 422, "validation_error")
    assert (await api.call("GET", f"{API}/queues/PHARM")).json() == before


async def test_config_with_values_that_cannot_be_stored(api: Api) -> None:
    await create_queue(api, "PHARM")
    before = await config(api)
    bad: list[dict[str, Any]] = [
        {"capacity": 10**30},
        {"capacity": 2**31},
        {"timezone": "Europe"},
        {"timezone": "Etc"},
        {"timezone": "x" * 300},
        {"timezone": "Europe/Berlin\x00"},
        {"weights": {"priority": float("nan"), "wait_time": 0.3, "appointment": 0.2}},
        {"weights": {"priority": float("inf"), "wait_time": 0.3, "appointment": 0.2}},
    ]
    for body in bad:
        r = await api.call("PUT", f"{API}/queues/PHARM/config", content=json.dumps(body))
        assert_error(r, 422)
    assert await config(api) == before


async def test_call_next_and_actions_with_wrong_bodies(api: Api) -> None:
    t = await one_called_ticket(api)
    before = await snapshot(api, t["id"])
    for body in ({}, {"counter": ""}, {"counter": 1}, {"counter": None}, {"counter": "x" * 33}):
        r = await api.call("POST", f"{API}/queues/PHARM/call-next", json=body)
        assert_error(r, 422, "validation_error")
    for action, body in [
        ("recall", {"counter": 5}),
        ("transfer", {"queue": "bad code!"}),
        ("transfer", {"queue": 7}),
        ("call", {"counter": ["1"]}),
    ]:
        r = await api.call("POST", f"{API}/tickets/{t['id']}/{action}", json=body)
        assert_error(r, 422, "validation_error")
    assert await snapshot(api, t["id"]) == before


async def test_empty_body_where_one_is_required(api: Api) -> None:
    t = await one_called_ticket(api)
    before = await snapshot(api, t["id"])
    for path, field in [("/api/v1/queues", "code"), ("/api/v1/queues/PHARM/call-next", "counter")]:
        r = await api.call("POST", path)
        error = assert_error(r, 422, "validation_error")
        assert field in error["message"]
        assert field in {d["field"] for d in error["details"]}
    # The service says what an action needs.
    await api.call("POST", f"{API}/tickets/{t['id']}/return")
    for action, needs in [("transfer", "queue"), ("call", "counter")]:
        error = assert_error(await api.call("POST", f"{API}/tickets/{t['id']}/{action}"), 422)
        assert needs in error["message"]
    assert (await ticket(api, t["id"]))["status"] == "waiting"

    # Where every field is optional, no body is fine and changes nothing.
    await api.call("POST", f"{API}/tickets/{t['id']}/call", json={"counter": "1"})
    assert (await api.call("PATCH", f"{API}/queues/PHARM")).json() == before[0][1]
    assert (await api.call("PUT", f"{API}/queues/PHARM/config")).json() == before[2]
    r = await api.call("POST", f"{API}/queues/PHARM/tickets")
    assert r.status_code == 201, r.text


async def test_a_body_over_64_kib_is_too_large(api: Api) -> None:
    await create_queue(api, "PHARM")
    big = b'{"name": "' + b"x" * (64 * 1024) + b'"}'
    r = await api.call("POST", f"{API}/queues/PHARM/tickets", content=big)
    assert_error(r, 413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    # The server answers 413 as soon as the limit is passed and closes the connection; a
    # client still sending its chunks may see that close (a reset, which can take the
    # answer with it) before it reads the answer. Either way nothing was read or stored.
    try:
        r = await api.call("POST", f"{API}/queues/PHARM/tickets", content=chunks())
    except httpx.NetworkError:  # read or write side of that reset
        pass
    else:
        assert_error(r, 413, "body_too_large")
    assert (await status(api))["size"] == 0

    # Just under the limit is read (and here it is valid).
    padded = b" " * (64 * 1024 - 100) + b'{"priority": 1}'
    r = await api.call("POST", f"{API}/queues/PHARM/tickets", content=padded)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(("method", "suffix", "body"), QUEUE_ROUTES)
async def test_unknown_queue_is_not_found(
    api: Api, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    await create_queue(api, "PHARM")
    r = await api.call(method, f"{API}/queues/NOPE{suffix}", json=body)
    error = assert_error(r, 404, "queue_not_found")
    assert "NOPE" in error["message"]


async def test_unknown_route_and_method(api: Api) -> None:
    await create_queue(api, "PHARM")
    for path in ("/api/v1/nope", "/api/v2/queues", "/api/v1/queues/PHARM/nope", "/nope"):
        assert_error(await api.call("GET", path), 404, "not_found")
    for method, path in [
        ("DELETE", "/api/v1/queues/PHARM"),
        ("PUT", "/api/v1/queues"),
        ("GET", "/api/v1/queues/PHARM/call-next"),
        ("POST", "/api/v1/queues/PHARM/status"),
    ]:
        assert_error(await api.call(method, path), 405, "method_not_allowed")


async def test_bad_query_parameters(api: Api) -> None:
    await create_queue(api, "PHARM")
    for days in ("abc", "0", "-1", "367", "1.5", "7days", "99999999999999999999"):
        r = await api.call("GET", f"{API}/queues/PHARM/analytics", params={"days": days})
        error = assert_error(r, 422, "invalid_value")
        assert "days" in error["message"]
    for days in ("1", "366"):
        r = await api.call("GET", f"{API}/queues/PHARM/analytics", params={"days": days})
        assert r.status_code == 200, r.text

    bad_times = [
        {"since": "yesterday"},
        {"since": "2026-03-02T09:00:00"},
        {"until": "2026-03-02"},
        {"since": "2026-03-02T10:00:00+00:00", "until": "2026-03-02T10:00:00+00:00"},
        {"since": "2026-03-02T11:00:00+01:00", "until": "2026-03-02T10:00:00+00:00"},
        {"until": "0001-01-01T00:00:00+00:00"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"until": "9999-12-31T23:59:59-14:00"},
    ]
    for params in bad_times:
        r = await api.call("GET", f"{API}/queues/PHARM/metrics", params=params)
        assert_error(r, 422, "invalid_value")


# -- a seeded fuzz over every body: whatever comes in, no 500 ----------------------------------

VALUES: list[Any] = [
    None, True, False, -1, 0, 1, 3, 9, 2**31, 2**63, 10**30, 1.5, -0.0, "", "x", "A", "1", "2",
    "PHARM", "lab", "x" * 200, "\x00", "a\x00b", "\u202e", "2026-03-02T10:00:00",
    "2026-03-02T10:00:00+01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00",
    "Europe/Berlin", "Europe", "fifo", "dynamic", "+4915112345678", "de", [], [0], [1, 2], [2**40],
    ["1"], ["1", "\x00"], [{"name": "1"}], [{"name": "1", "is_open": False}], [None], {},
    {"priority": 0.5, "wait_time": 0.3, "appointment": 0.2}, {"priority": 1},
]  # fmt: skip


def body_fields() -> dict[tuple[str, str], list[str]]:
    """The fields each route's body model knows, by (method, path shape)."""
    return {
        (e.method, openapi_path(e.path)): list(e.body.model_fields)
        for e in REGISTRY
        if e.body is not None
    }


def random_body(rng: random.Random, fields: list[str]) -> dict[str, Any]:
    """One to three known fields with arbitrary values; now and then an unknown one."""
    chosen = rng.sample(fields, rng.randint(1, min(3, len(fields))))
    if rng.random() < 0.05:
        chosen.append("surprise")
    return {f: rng.choice(VALUES) for f in chosen}


async def test_fuzzed_bodies_never_cause_a_server_error(api: Api) -> None:
    t = await one_called_ticket(api)
    rng = random.Random(20260302)
    known = body_fields()
    actions = ["call", "recall", "start", "complete", "no-show", "cancel", "transfer", "return"]
    routes = [
        ("POST", "/api/v1/queues", "/api/v1/queues"),
        ("PATCH", "/api/v1/queues/{code}", "/api/v1/queues/LAB"),
        ("POST", "/api/v1/queues/{code}/tickets", "/api/v1/queues/LAB/tickets"),
        ("POST", "/api/v1/queues/{code}/call-next", "/api/v1/queues/LAB/call-next"),
        ("POST", "/api/v1/queues/{code}/pause", "/api/v1/queues/LAB/pause"),
        ("PUT", "/api/v1/queues/{code}/config", "/api/v1/queues/LAB/config"),
        *(
            ("POST", "/api/v1/tickets/{ticket_id}/{action}", f"/api/v1/tickets/{t['id']}/{a}")
            for a in actions
        ),
        ("POST", "/api/v1/privacy/export", "/api/v1/privacy/export"),
        ("POST", "/api/v1/privacy/erase", "/api/v1/privacy/erase"),
        ("POST", "/api/v1/queues/{code}/broadcast", "/api/v1/queues/LAB/broadcast"),
    ]
    assert {(m, p) for m, p, _ in routes} == set(known)
    seen: set[int] = set()
    for _ in range(15):
        for method, shape, path in routes:
            body = random_body(rng, known[(method, shape)])
            r = await api.call(method, path, json=body)
            seen.add(r.status_code)
            assert r.status_code < 500, (method, path, body, r.text)
            if r.status_code >= 400:
                assert_error(r, r.status_code)
    assert {200, 404, 409, 422} <= seen, seen  # the fuzz reaches past validation
