"""Point 3: credentials with bytes outside ASCII (a session or login cookie, a CSRF header,
a login form field) are wrong credentials, answered 401/403, never a 500."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import websockets

from tests.conftest import Api
from tests.web.sessions import console_client, csrf_token
from web.session import COOKIE, equal_secrets

pytestmark = pytest.mark.usefixtures("pharmacy")
BAD = ["é", "x.é", "é.é", "\u2028.\u00ff", "ab.c\u00e9d"]


def raw_cookie(value: str) -> dict[str, bytes]:
    """A Cookie header as a client may send it: UTF-8 bytes, not ASCII."""
    return {"Cookie": f"{COOKIE}={value}".encode()}


@pytest.mark.parametrize("value", BAD)
async def test_a_session_cookie_outside_ascii_is_no_session(api: Api, value: str) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        console = await client.get("/console", headers=raw_cookie(value))
        assert console.status_code == 302
        login = await client.get("/console/login", headers=raw_cookie(value))
        assert login.status_code == 200
        listed = await client.get("/api/v1/queues", headers=raw_cookie(value))
        assert listed.status_code == 401
        assert listed.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("value", BAD[:3])
async def test_a_websocket_with_such_a_cookie_gets_only_the_public_feed(
    api: Api, value: str
) -> None:
    url = api.base_url.replace("http", "ws") + "/ws/queues/PHARM"
    headers = {"Cookie": f"{COOKIE}={value}".encode().decode("latin-1")}
    async with websockets.connect(url, additional_headers=headers) as ws:
        first = json.loads(await ws.recv())
    assert first["type"] == "display"


@pytest.mark.parametrize("token", ["é", "\u00ff" * 43])
async def test_a_csrf_token_outside_ascii_is_refused(api: Api, token: str) -> None:
    async with console_client(api, "staff") as client:
        assert await csrf_token(client)
        header = {"X-CSRF-Token": token.encode()}
        called = await client.post(
            "/api/v1/queues/PHARM/call-next", json={"counter": "1"}, headers=header
        )
        assert called.status_code == 403, called.text
        walk_in = await client.post(
            "/console/queues/PHARM/walk-in", data={"name": "X"}, headers=header
        )
        assert walk_in.status_code == 403
        form = await client.post(
            "/console/queues/PHARM/walk-in", data={"name": "X", "csrf_token": token}
        )
        assert form.status_code == 403


@pytest.mark.parametrize(
    ("cookie", "field"), [("é", "e"), ("abc", "é"), ("é", "abc"), ("\u00e9\u00e9", "é")]
)
async def test_a_login_token_outside_ascii_is_an_expired_form(
    api: Api, cookie: str, field: str
) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        form = await client.get("/console/login")
        assert re.search(r'name="login_token"', form.text)
        response = await client.post(
            "/console/login",
            data={"name": "staff-user", "password": "correct horse", "login_token": field},
            headers={"Cookie": f"nextup_login={cookie}".encode()},
        )
    assert response.status_code == 403
    assert "expired" in response.text


def test_secrets_are_compared_as_bytes() -> None:
    assert equal_secrets("abc", "abc")
    assert equal_secrets("é", "é")
    assert not equal_secrets("é", "e")
    assert not equal_secrets(None, "abc") and not equal_secrets("", "")
    assert equal_secrets(b"abc", "abc")
