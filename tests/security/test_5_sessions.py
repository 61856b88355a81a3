"""Point 5: logout ends the session everywhere: the cookie is really deleted on a plain-http
address, the old cookie stops working, and open staff websockets close within seconds (also
on deactivation and on `accounts.revoke_sessions`, which `nextup passwd` calls)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from core.services import accounts
from core.storage.models import StaffAccount
from tests.api.helpers import create_queue
from tests.conftest import Api
from tests.web.sessions import csrf_token, log_in
from web.live.hub import RECHECK_S
from web.live.routes import CLOSE_REVOKED

WITHIN_S = RECHECK_S + 3.0


@asynccontextmanager
async def staff_feed(
    api: Api, cookie: str | None = None, token: str | None = None
) -> AsyncIterator[ClientConnection]:
    headers = {"Origin": api.base_url}
    if cookie:
        headers["Cookie"] = f"nextup_session={cookie}"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = api.base_url.replace("http", "ws") + "/ws/queues/PHARM"
    async with websockets.connect(url, additional_headers=headers) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["type"] == "snapshot", first  # the staff feed, not the display's
        yield ws


async def closed_with(ws: ClientConnection) -> tuple[int | None, float]:
    """The close code, and the seconds it took to come."""
    started = time.monotonic()
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(WITHIN_S):
            while True:
                await ws.recv()
    return ws.close_code, time.monotonic() - started


async def logged_in(api: Api, role: str = "staff") -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=api.base_url, timeout=10)
    assert (await log_in(client, f"{role}-user")).status_code == 303
    return client


async def test_logout_ends_the_session_everywhere(api: Api) -> None:
    await create_queue(api, "PHARM")
    client = await logged_in(api)
    other_device = await logged_in(api)
    try:
        cookie = client.cookies["nextup_session"]
        async with staff_feed(api, cookie=cookie) as ws:
            response = await client.post(
                "/console/logout", headers={"X-CSRF-Token": await csrf_token(client)}
            )
            assert response.status_code == 303
            # Plain http: the deletion must not be `Secure`, or the browser ignores it.
            deletion = response.headers["set-cookie"]
            assert deletion.startswith("nextup_session=") and "Max-Age=0" in deletion
            assert "secure" not in deletion.lower() and "Path=/" in deletion
            code, waited_s = await closed_with(ws)
            assert code == CLOSE_REVOKED and waited_s <= WITHIN_S

        # The old cookie (kept by an attacker, or on another device) no longer works.
        for holder in (httpx.Cookies({"nextup_session": cookie}), other_device.cookies):
            async with httpx.AsyncClient(base_url=api.base_url, cookies=holder) as stale:
                assert (await stale.get("/console")).status_code in (302, 303)
                assert (await stale.get("/api/v1/queues")).status_code == 401
    finally:
        await client.aclose()
        await other_device.aclose()


async def test_deactivation_and_revocation_close_open_feeds(api: Api) -> None:
    await create_queue(api, "PHARM")
    client = await logged_in(api)
    try:
        async with staff_feed(api, cookie=client.cookies["nextup_session"]) as ws:
            await accounts.revoke_sessions("staff-user")  # what `nextup passwd` calls
            assert (await closed_with(ws))[0] == CLOSE_REVOKED
        assert (await client.get("/api/v1/queues")).status_code == 401

        async with staff_feed(api, token=api.tokens["pharmacist"]) as ws:
            await StaffAccount.filter(name="pharmacist-user").update(is_active=False)
            assert (await closed_with(ws))[0] == CLOSE_REVOKED
    finally:
        await client.aclose()
