"""The waiting-room display in a real browser: live calls without a reload, the spoken
announcement, never a patient's name or phone (in the page or on the wire), and recovery
from a dropped connection."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from tests.browser.conftest import record_frames, screenshot
from tests.conftest import Api
from tests.patient_tokens import with_token

API = "/api/v1"
TV = {"width": 1920, "height": 1080}
FLASHING = re.compile(r"\bflash\b")
PATIENTS = (
    ("Zebulon Quixote", "+15557770101"),
    ("Philippa Marchbanks", "+15557770102"),
    ("Oswaldo Pennyfeather", "+15557770103"),
    ("Griselda Thistlewood", "+15557770104"),
    ("Barnaby Fitzwilliam", "+15557770105"),
    ("Ludmila Crankshaw", "+15557770106"),
    ("Ignatius Bellweather", "+15557770107"),
    ("Clementine Ashgrove", "+15557770108"),
    ("Percival Wrenfield", "+15557770109"),
    ("Wilhelmina Oakenshield", "+15557770110"),
    ("Thaddeus Brambleworth", "+15557770111"),
    ("Octavia Pemberton", "+15557770112"),
)


async def pharmacy(api: Api, patients: int, language: str | None = None) -> list[dict[str, Any]]:
    body = {
        "code": "PHARM",
        "name": "Pharmacy",
        "public_name": "Pharmacy",
        "prefix": "A",
        "counters": ["1", "2", "3"],
    }
    assert (await api.call("POST", f"{API}/queues", json=body)).status_code == 201
    if language:
        config = await api.call("PUT", f"{API}/queues/PHARM/config", json={"language": language})
        assert config.status_code == 200, config.text
    tickets = []
    for name, phone in PATIENTS[:patients]:
        joined = await api.call(
            "POST", f"{API}/queues/PHARM/tickets", json={"name": name, "phone": phone}
        )
        assert joined.status_code == 201, joined.text
        tickets.append(await with_token(joined.json()))
    return tickets


async def call_next(api: Api, counter: str) -> dict[str, Any]:
    api.app.ctx.container.clock.advance(minutes=1)  # calls in order, as in real time
    response = await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": counter})
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


@pytest.fixture
async def tv(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=TV)
    context.set_default_timeout(10_000)
    yield await context.new_page()
    await context.close()


async def test_calls_show_live_with_announcement_and_never_a_name(tv: Page, api: Api) -> None:
    tickets = await pharmacy(api, patients=12)
    frames = record_frames(tv)
    await tv.goto(f"{api.base_url}/display/PHARM")
    latest = tv.locator(".called-item.latest")
    announcement = tv.locator("#announcement")

    # Sound needs a click once; the choice is remembered for the next start.
    await tv.get_by_role("button", name="Click to enable sound").click()
    await expect(tv.locator("#sound-overlay")).to_be_hidden()
    assert await tv.evaluate("localStorage.getItem('nextup.display.sound')") == "on"
    await expect(tv.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(tv.locator("#called-empty")).to_be_visible()
    await expect(tv.locator("#next li")).to_have_count(6)
    await expect(tv.locator("#waiting")).to_have_text("12 waiting")

    await call_next(api, "2")
    await expect(latest.locator(".num")).to_have_text("A-001")
    await expect(latest.locator(".ctr-name")).to_have_text("2")
    await expect(latest).to_have_class(FLASHING)
    await expect(announcement).to_have_text("Ticket A 1, counter 2")
    await expect(tv.locator("#next li").first).to_have_text("A-002")
    await expect(tv.locator("#waiting")).to_have_text("11 waiting")

    await call_next(api, "1")
    await call_next(api, "3")
    await expect(latest.locator(".num")).to_have_text("A-003")
    await expect(announcement).to_have_text("Ticket A 3, counter 3")
    await expect(tv.locator(".called-item .num")).to_have_text(["A-003", "A-002", "A-001"])
    await expect(tv.locator("#next li")).to_have_count(6)
    await expect(tv.locator("#waiting")).to_have_text("9 waiting")

    count = int(await announcement.get_attribute("data-count") or 0)
    recall = await api.call("POST", f"{API}/tickets/{tickets[0]['id']}/recall")
    assert recall.status_code == 200, recall.text
    await expect(announcement).to_have_text("Again: ticket A 1, counter 2")
    await expect(announcement).to_have_attribute("data-count", str(count + 1))
    first = tv.locator('.called-item[data-number="A-001"]')
    await expect(first).to_have_class(FLASHING)

    # Serving moves on (each patient arrives; the next call finishes them); the "next" list
    # shrinks as the line empties.
    for ticket in tickets[:3]:
        await api.call("POST", f"{API}/tickets/{ticket['id']}/start")
    for counter in ("1", "2", "3", "1", "2"):
        called = await call_next(api, counter)
        await api.call("POST", f"{API}/tickets/{called['id']}/start")
    await expect(tv.locator("#next li")).to_have_text(["A-009", "A-010", "A-011", "A-012"])
    # one patient per counter: the three at the counters, never two sent to one
    await expect(tv.locator(".called-item .num")).to_have_text(["A-008", "A-007", "A-006"])

    await tv.mouse.move(0, 0)
    await screenshot(tv, "display")

    html = await tv.content()
    secrets = [s for patient in PATIENTS for s in patient]
    secrets += [t["id"] for t in tickets] + [t["token"] for t in tickets]
    secrets += ["admin-user", "staff:", "actor"]
    assert frames, "the page received no websocket frames"
    assert any(json.loads(f).get("type") == "display" for f in frames)
    for secret in secrets:
        assert secret not in html, secret
        assert not [f for f in frames if secret in f], secret


async def test_spanish_queue_announces_in_spanish(tv: Page, api: Api) -> None:
    await pharmacy(api, patients=2, language="es")
    await tv.goto(f"{api.base_url}/display/PHARM")
    await tv.get_by_role("button", name="Continuar sin sonido").click()
    await expect(tv.locator("#conn")).to_have_attribute("data-state", "live")

    await call_next(api, "2")

    await expect(tv.locator("#announcement")).to_have_text("Turno A 1, ventanilla 2")
    await expect(tv.locator(".called-item.latest .ctr-label")).to_have_text("Ventanilla")
    assert await tv.evaluate("localStorage.getItem('nextup.display.sound')") == "off"


async def test_sound_choice_is_remembered(tv: Page, api: Api) -> None:
    await pharmacy(api, patients=1)
    await tv.goto(f"{api.base_url}/display/PHARM")
    await tv.get_by_role("button", name="Click to enable sound").click()
    await tv.reload()
    await expect(tv.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(tv.locator("#sound-overlay")).to_be_hidden()
    await expect(tv.locator("#sound-toggle")).to_have_attribute("aria-pressed", "true")


async def test_survives_a_network_drop(tv: Page, api: Api) -> None:
    await pharmacy(api, patients=3)
    network_up = asyncio.Event()
    network_up.set()
    routes: list[WebSocketRoute] = []

    async def proxy(ws: WebSocketRoute) -> None:
        await network_up.wait()  # while "down", a new connection hangs
        ws.connect_to_server()
        routes.append(ws)

    await tv.route_web_socket("**/ws/**", proxy)
    await tv.goto(f"{api.base_url}/display/PHARM")
    await expect(tv.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(tv.locator("#offline")).to_be_hidden()

    network_up.clear()
    await routes[-1].close()
    await expect(tv.locator("#offline")).to_be_visible()
    await expect(tv.locator("#offline")).to_have_text("Offline \u2013 reconnecting…")
    assert await tv.evaluate("document.documentElement.dataset.live") in ("offline", "reconnecting")
    await call_next(api, "2")  # made while the screen is cut off
    await asyncio.sleep(0.5)
    await expect(tv.locator("#called-empty")).to_be_visible()

    network_up.set()
    started = time.monotonic()
    await expect(tv.locator(".called-item.latest .num")).to_have_text("A-001", timeout=3_000)
    await expect(tv.locator("#offline")).to_be_hidden(timeout=3_000)
    assert time.monotonic() - started < 3.0
    await expect(tv.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(tv.locator("#announcement")).to_have_text("Ticket A 1, counter 2")


async def test_unknown_queue_is_a_404_page(tv: Page, api: Api) -> None:
    response = await tv.goto(f"{api.base_url}/display/NOPE")
    assert response is not None and response.status == 404
    await expect(tv.get_by_role("heading")).to_have_text("Queue not found")
