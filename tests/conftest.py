"""Shared fixtures. The backend comes from the environment, so the same tests run on
SQLite + in-process bus (default) and on PostgreSQL + Redis:

    NEXTUP_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/nextup_test
    NEXTUP_TEST_REDIS_URL=redis://127.0.0.1:6379/15

The PostgreSQL database is the suite's own: created when missing, emptied by every run, and
one the suite did not create is refused (tests/suite_database.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import hypothesis
import pytest
import redis
from argon2 import PasswordHasher
from sanic import Sanic
from tortoise import connections

from core.services import accounts
from core.settings import load_settings
from core.storage import db, unit_of_work
from tests import suite_database
from tests.servers import serve, shut

if TYPE_CHECKING:
    from nextup.wiring import Container

Sanic.test_mode = True
# Every command of the suite checks that what it changed is what the domain said it touched.
unit_of_work.VERIFY_TOUCHED = True


def _dump_asyncio_tasks(signum: int, frame: Any) -> None:
    """`kill -USR1 <pytest pid>` prints every task's stack: what a hung test waits on."""
    with contextlib.suppress(RuntimeError):
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)


signal.signal(signal.SIGUSR1, _dump_asyncio_tasks)
# CI replays the same examples every run, so a landing never hinges on a lucky draw; local
# runs keep exploring new ones (and keep what fails in .hypothesis/ to replay it).
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")
TABLES = (
    "staff_alerts",
    "daily_reports",
    "consents",
    "privacy_log",
    "maintenance_leases",
    "dev_inbox",
    "contacts",
    "link_codes",
    "outbox",
    "ticket_events",
    "queue_events",
    "hourly_metrics",
    "tickets",
    "counters",
    "queue_configs",
    "api_tokens",
    "staff_accounts",
    "queues",
)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def database_url(tmp: Path) -> str:
    return os.environ.get("NEXTUP_TEST_DATABASE_URL") or f"sqlite://{tmp / 'test.sqlite3'}"


async def stop_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    """Stops a live NextUp's background tasks (the dispatcher, the bot); one that does not
    stop fails the test (with every task's stack) instead of hanging the suite."""
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, stuck = await asyncio.wait(tasks, timeout=15)
    for task in done:  # what they raised on the way out does not matter here
        _ = task.cancelled() or task.exception()
    if stuck:
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)
        raise AssertionError(f"{len(stuck)} background tasks did not stop: {stuck}")


def redis_url() -> str | None:
    return os.environ.get("NEXTUP_TEST_REDIS_URL") or None


def on_postgres() -> bool:
    return database_url(Path(".")).startswith(("postgres://", "postgresql://"))


def services_required() -> None:
    """PostgreSQL- or Redis-only tests: skipped on the embedded run, never silently in CI."""
    if not (on_postgres() and redis_url()):
        if os.environ.get("NEXTUP_TEST_REQUIRE_SERVICES"):
            pytest.fail("this run must have PostgreSQL and Redis (NEXTUP_TEST_* variables)")
        pytest.skip("needs PostgreSQL and Redis: set NEXTUP_TEST_DATABASE_URL and _REDIS_URL")


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
async def migrated(db_url: str) -> AsyncIterator[str]:
    if on_postgres():
        try:
            await suite_database.claim(db_url)  # creates it, or refuses one it did not create
        except suite_database.ForeignDatabase as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    await db.migrate(db_url)
    yield db_url


@pytest.fixture(autouse=True)
def no_provider_state_from_earlier_tests() -> None:
    """Every test's Telegram emulator is the same bot, and what Redis keeps of a bot
    outlives a test: a send booked by a process killed mid-send holds its chat for
    IN_FLIGHT_HOLD_S, a 429 pauses the bot, a killed poller's lock stands until its TTL.
    Left there, they hold up the next test's messages past its waits, so each test starts
    without them."""
    url = redis_url()
    if url is None:
        return
    # Imported here: the delivery package costs `make test-unit` a third of a second.
    from core.delivery.shared_limits import PREFIX as LIMITS_PREFIX
    from core.storage.poller_lock import REDIS_KEY_PREFIX as POLLER_PREFIX

    client = redis.Redis.from_url(url)
    try:
        for pattern in (LIMITS_PREFIX + "*", POLLER_PREFIX + "*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
async def container(migrated: str, clock: FakeClock) -> AsyncIterator[Container]:
    # Imported here, as is the app below: they bring every adapter (aiogram alone takes
    # seconds), which the tests that need no server (`make test-unit`) should not wait for.
    from nextup.wiring import build_container

    settings = load_settings(database_url=migrated, redis_url=redis_url(), secret_key="test-key")
    container = build_container(settings, clock=clock)
    await container.start(migrate=False)
    await connections.get("default").execute_script(
        "".join(f"DELETE FROM {table};" for table in TABLES)
    )
    yield container
    await container.stop()


@dataclass
class Api:
    """An HTTP client on a real server, with a token per role."""

    client: httpx.AsyncClient
    tokens: dict[str, str]
    base_url: str
    app: Sanic[Any, Any]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(
        self, method: str, path: str, role: str | None = "admin", **kw: Any
    ) -> httpx.Response:
        headers = kw.pop("headers", {}) | (self.auth(role) if role else {})
        return await self.client.request(method, path, headers=headers, **kw)


@pytest.fixture
async def api(container: Container, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """A real server on a free port. Password hashing is made cheap: no API test is about
    its strength."""
    from web.app import create_app

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    app = create_app(container)
    server, base_url = await serve(app)
    tokens = {}
    for role in accounts.Role:
        # Every queue: these tests are about roles; queue scope has its own tests.
        await accounts.create_account(
            f"{role.value}-user", role.value, "correct horse", queues=[accounts.ALL_QUEUES]
        )
        tokens[role.value] = await accounts.issue_token(f"{role.value}-user")
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield Api(client, tokens, base_url, app)
    await shut(server)


async def wait_for_health(base_url: str, timeout_s: float = 120) -> None:
    """Waits until a server started in another process answers /healthz. Generous: on a
    machine whose CPUs are busy, importing and migrating alone has taken over 30 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            try:
                if (await client.get(f"{base_url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if loop.time() > deadline:
                raise TimeoutError(f"{base_url} did not answer /healthz in {timeout_s} s")
            await asyncio.sleep(0.2)
