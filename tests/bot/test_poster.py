"""The printable poster: a QR code of the bot's deep link for the queue."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.bot.conftest import Live
from web.app import create_app


@pytest.fixture
async def web(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(live.container)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.start_serving()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with httpx.AsyncClient(base_url=base) as client:
        yield client
    await server.close()
    await server.wait_closed()


async def test_the_poster_shows_the_deep_link_as_a_qr_code(web: httpx.AsyncClient) -> None:
    page = await web.get("/q/pharm/poster")
    assert page.status_code == 200
    assert "<svg" in page.text and "Pharmacy" in page.text
    assert "/join PHARM" in page.text and "@nextup_test_bot" in page.text
    assert '<link rel="stylesheet" href="/static/poster.css">' in page.text
    assert "@page { size: A4" in (await web.get("/static/poster.css")).text
    assert "cdn" not in page.text.lower()
    # Only its own Print button's script, from this server (the CSP allows no inline code).
    assert re.findall(r'<script src="([^"]+)"', page.text) == ["/static/poster.js"]


async def test_the_qr_code_holds_the_deep_link(live: Live) -> None:
    link = await live.container.telegram_deep_link("PHARM")
    assert link == "https://t.me/nextup_test_bot?start=q_PHARM"


async def test_an_unknown_queue_has_no_poster(web: httpx.AsyncClient) -> None:
    page = await web.get("/q/NOPE/poster")
    assert page.status_code == 404
    assert page.json()["error"]["code"] == "queue_not_found"
