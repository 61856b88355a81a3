"""The console's doors: sessions, roles, CSRF, the login rate limit, and what a websocket
gives away without credentials."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest
import websockets

from core.storage.models import StaffAccount
from tests.conftest import Api
from tests.web.sessions import PASSWORD, console_client, csrf_token, log_in
from web.auth import ADMIN
from web.session import COOKIE

pytestmark = pytest.mark.usefixtures("pharmacy")


@pytest.fixture
async def pharmacy(api: Api) -> dict[str, Any]:
    created = await api.call(
        "POST", "/api/v1/queues", json={"code": "PHARM", "name": "Pharmacy", "prefix": "A"}
    )
    assert created.status_code == 201
    joined = await api.call(
        "POST",
        "/api/v1/queues/PHARM/tickets",
        json={"name": "Zebulon Quixote", "phone": "+15551230001"},
    )
    ticket: dict[str, Any] = joined.json()
    return ticket


def console_routes(api: Api) -> list[tuple[str, str, frozenset[str]]]:
    """(method, path, roles) of every route guarded as a console page."""
    found = []
    for route in api.app.router.routes:
        roles = getattr(route.handler, "roles", None)
        if roles is None:
            continue
        for method in sorted(route.methods):
            found.append((method, "/" + route.path, roles))
    assert len(found) >= 5, found  # board, fragment, walk-in, ticket, settings, ...
    return found


def concrete(path: str, ticket_id: str) -> str:
    # Sanic writes a parameter's type into the path (`<code:str>`).
    path = re.sub(r"<code(:\w+)?>", "PHARM", path)
    return re.sub(r"<ticket_id(:\w+)?>", ticket_id, path)


async def test_every_console_route_sends_strangers_to_the_login_page(
    api: Api, pharmacy: dict[str, Any]
) -> None:
    async with console_client(api, None) as client:
        for method, path, _ in console_routes(api):
            url = concrete(path, pharmacy["id"])
            response = await client.request(method, url)
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["location"].startswith("/console/login?next="), url
            fragment = await client.request(method, url, headers={"HX-Request": "true"})
            assert fragment.status_code == 401
            assert fragment.headers["HX-Redirect"] == "/console/login"


async def test_staff_are_refused_admin_pages_and_do_not_see_links_to_them(
    api: Api, pharmacy: dict[str, Any]
) -> None:
    admin_only = [(m, p) for m, p, roles in console_routes(api) if roles == ADMIN]
    assert admin_only, "the queue settings page is admin-only"
    for role in ("staff", "pharmacist"):
        async with console_client(api, role) as client:
            token = await csrf_token(client)
            for method, path in admin_only:
                url = concrete(path, pharmacy["id"])
                response = await client.request(
                    method, url, headers={"X-CSRF-Token": token, "Accept": "text/html"}
                )
                assert response.status_code == 403, (role, method, url)
                assert "Not allowed" in response.text
            board = await client.get("/console")
            assert "/settings" not in board.text
    async with console_client(api, "admin") as client:
        assert "/console/queues/PHARM/settings" in (await client.get("/console")).text


async def test_unsafe_requests_without_the_csrf_token_are_refused(
    api: Api, pharmacy: dict[str, Any]
) -> None:
    async with console_client(api, "admin") as client:
        token = await csrf_token(client)
        for method, path, _ in console_routes(api):
            if method in {"GET", "HEAD", "OPTIONS"}:
                continue
            url = concrete(path, pharmacy["id"])
            for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": token + "x"}):
                response = await client.request(method, url, headers=headers, data={"name": "X"})
                assert response.status_code == 403, (method, url, headers)
        # The REST API takes the session cookie too, and so needs the token as well.
        refused = await client.post("/api/v1/queues/PHARM/call-next", json={"counter": "1"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        status = (await api.call("GET", "/api/v1/queues/PHARM/status")).json()
        assert status["size"] == 1 and status["serving"] == []
        called = await client.post(
            "/api/v1/queues/PHARM/call-next", json={"counter": "1"}, headers={"X-CSRF-Token": token}
        )
        assert called.status_code == 200, called.text
    history = (await api.call("GET", f"/api/v1/tickets/{pharmacy['id']}")).json()["history"]
    called_event = next(e for e in history if e["to_status"] == "called")
    assert called_event["actor"] == "staff:admin-user"


async def test_session_cookie_is_http_only_same_site_and_cannot_be_forged(api: Api) -> None:
    async with console_client(api, None) as client:
        response = await log_in(client, "staff-user")
        header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE))
        flags = {part.strip().lower() for part in header.split(";")}
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        cookie = client.cookies[COOKIE]
    admin = await StaffAccount.get(name="admin-user")
    payload, mac = cookie.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["a"] = admin.id  # claim to be the admin, keeping the staff member's signature
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    for value in (f"{forged}.{mac}", cookie + "x", "garbage", f"{payload}."):
        async with httpx.AsyncClient(base_url=api.base_url, cookies={COOKIE: value}) as client:
            response = await client.get("/console")
            assert response.status_code == 302, value


async def test_deactivating_an_account_or_changing_its_password_ends_its_sessions(
    api: Api,
) -> None:
    async with console_client(api, "staff") as client:
        assert (await client.get("/console")).status_code == 200
        await StaffAccount.filter(name="staff-user").update(password_hash="$argon2id$changed")
        assert (await client.get("/console")).status_code == 302
    async with console_client(api, "pharmacist") as client:
        await StaffAccount.filter(name="pharmacist-user").update(is_active=False)
        assert (await client.get("/console")).status_code == 302


async def test_logins_are_rate_limited_per_address(api: Api) -> None:
    async with console_client(api, None) as client:
        for _ in range(5):
            assert (await log_in(client, "staff-user", "wrong password")).status_code == 401
        blocked = await log_in(client, "staff-user", PASSWORD)
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert "Too many failed logins" in blocked.text
        # The address is blocked for every account, not only the one being guessed.
        assert (await log_in(client, "admin-user", PASSWORD)).status_code == 429


async def test_login_needs_its_own_form_and_never_redirects_off_site(api: Api) -> None:
    async with console_client(api, None) as client:
        forged = await client.post(
            "/console/login", data={"name": "staff-user", "password": PASSWORD}
        )
        assert forged.status_code == 403
        assert COOKIE not in client.cookies
        form = await client.get("/console/login?next=https://evil.example/x")
        assert "evil.example" not in form.text
        response = await log_in(client, "staff-user")
        assert response.headers["location"] == "/console"


async def test_logout_ends_the_session(api: Api) -> None:
    async with console_client(api, "staff") as client:
        token = await csrf_token(client)
        response = await client.post("/console/logout", data={"csrf_token": token})
        assert response.status_code == 303
        assert (await client.get("/console")).status_code == 302


async def first_message(url: str, headers: dict[str, str]) -> dict[str, Any]:
    async with websockets.connect(url, additional_headers=headers) as ws:
        message: dict[str, Any] = json.loads(await ws.recv())
        return message


async def test_queue_websocket_gives_everything_only_to_staff_of_this_site(api: Api) -> None:
    url = api.base_url.replace("http", "ws") + "/ws/queues/PHARM"
    async with console_client(api, "staff") as client:
        cookie = f"{COOKIE}={client.cookies[COOKIE]}"
    own_origin = {"Cookie": cookie, "Origin": api.base_url}
    assert (await first_message(url, own_origin))["type"] == "snapshot"
    assert (await first_message(url, api.auth("staff")))["type"] == "snapshot"
    # Another site's page opening the socket with the staff member's cookie gets the
    # waiting-room display's feed, like anyone without credentials.
    for headers in ({"Cookie": cookie, "Origin": "http://evil.example"}, {}):
        message = await first_message(url, headers)
        assert message["type"] == "display"
        assert "Zebulon" not in json.dumps(message)
    bad_token = {"Authorization": "Bearer nxt_forged"}
    assert (await first_message(url, bad_token))["type"] == "display"


async def test_queue_websocket_takes_a_session_only_from_this_servers_exact_origin(
    api: Api,
) -> None:
    url = api.base_url.replace("http", "ws") + "/ws/queues/PHARM"
    async with console_client(api, "staff") as client:
        cookie = f"{COOKIE}={client.cookies[COOKIE]}"
    host = api.base_url.split("://", 1)[1]
    for origin in (host, f"{api.base_url}/console", "null"):
        message = await first_message(url, {"Cookie": cookie, "Origin": origin})
        assert message["type"] == "display", origin
