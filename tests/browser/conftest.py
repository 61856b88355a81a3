"""Browser tests: Debian's Chromium driven by Playwright, against the app served over real
HTTP on loopback. No browser is downloaded; `make test` installs Debian's package."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocket, async_playwright

from core.services.queues import QueueService
from tests.conftest import Api

CHROMIUM = Path(os.environ.get("NEXTUP_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("NEXTUP_TEST_SCREENSHOTS", "test-artifacts/screenshots"))
PASSWORD = "correct horse"
CHROMIUM_ARGS = [
    # As root in a container there is no sandbox to use; the rest keeps Chromium from
    # calling home (this machine has no network beyond loopback).
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


POLICY_REFUSALS: list[str] = []
"""What Chromium refused under the Content-Security-Policy in the running test's pages."""


def watch_the_policy(browser: Browser) -> None:
    """Every context a test makes reports the console lines in which Chromium refused
    something under the policy (inline style, eval, …): a page that needs what the policy
    refuses is broken in a way no assertion on its text would notice."""
    new_context = browser.new_context

    async def watched(**options: Any) -> BrowserContext:
        context = await new_context(**options)
        context.on(
            "console",
            lambda m: POLICY_REFUSALS.append(m.text) if "Security Policy" in m.text else None,
        )
        return context

    browser.new_context = watched  # type: ignore[method-assign]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        watch_the_policy(browser)
        yield browser
        await browser.close()


@pytest.fixture(autouse=True)
def nothing_refused_by_the_policy() -> Iterator[None]:
    POLICY_REFUSALS.clear()
    yield
    assert POLICY_REFUSALS == [], "the Content-Security-Policy refused part of a page"


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test; more with `new_context`."""
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
def queues(api: Api) -> QueueService:
    service: QueueService = api.app.ctx.container.queues
    return service


async def log_in(page: Page, api: Api, role: str = "admin") -> None:
    """Through the login form, as `<role>-user` (the `api` fixture's accounts)."""
    await page.goto(f"{api.base_url}/console/login")
    await page.fill("input[name=name]", f"{role}-user")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{api.base_url}/console**")


async def screenshot(page: Page, name: str) -> Path:
    """Kept as a test artifact; the README's pictures in docs/ are copies of these."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    scrolled = await page.evaluate("window.scrollY")
    await page.screenshot(path=str(path), full_page=True)
    # A full-page picture leaves the page scrolled elsewhere while Chromium keeps the old
    # position, which it takes back at the next click's release: on a tall page the press
    # and the release then land on two different elements (the settings page's save button
    # was pressed and the release landed rows above). Scrolling back now makes them agree.
    await page.evaluate("y => window.scrollTo(0, y)", scrolled)
    return path


def record_frames(page: Page) -> list[str]:
    """Every websocket frame the page receives, to check what it was never sent."""
    frames: list[str] = []

    def on_socket(ws: WebSocket) -> None:
        ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode(errors="replace")
            ),
        )

    page.on("websocket", on_socket)
    return frames
