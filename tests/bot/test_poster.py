"""The printable poster: the web join form's QR code, and the bot's deep link for the queue as
a second one; and the Telegram way offered where a patient joins or waits on the web."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from core.services.queues import new_join_request
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
    assert page.text.count("<svg") == 2 and "Pharmacy" in page.text
    assert "/q/PHARM/join" in page.text  # the first QR code: no app needed
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


async def test_the_join_form_offers_telegram_too(web: httpx.AsyncClient) -> None:
    page = await web.get("/q/PHARM/join")
    assert page.status_code == 200
    assert 'href="https://t.me/nextup_test_bot?start=q_PHARM"' in page.text


async def test_a_ticket_with_no_phone_or_chat_is_told_of_telegram(
    live: Live, web: httpx.AsyncClient
) -> None:
    queues = live.container.queues
    bare = await queues.join("PHARM", new_join_request(), "patient:web")
    texted = await queues.join("PHARM", new_join_request(phone="+447700900123"), "patient:web")

    page = await web.get(f"/t/{bare.ticket.token}")
    assert "https://t.me/nextup_test_bot?start=q_PHARM" in page.text
    assert "a new number at the end of the line" in page.text  # truthful: it is a new ticket
    page = await web.get(f"/t/{texted.ticket.token}")  # already hears from us by SMS
    assert "t.me/" not in page.text
