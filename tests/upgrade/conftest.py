"""Databases of their own for the upgrade and backup tests, beside the suite's: a file on
SQLite, `<suite database>_<suffix>` on PostgreSQL (created, marked and emptied as the
suite's own is, tests/suite_database.py)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from core.settings import load_settings
from core.storage.models import TicketRow
from tests import suite_database
from tests.conftest import FakeClock, on_postgres
from tests.upgrade import stored_day

SECRET_KEY = "the servers' secret key"
"""`nextup migrate` runs with the servers' key (0012 hashes stored numbers with it)."""

ScratchDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
def scratch_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScratchDatabase:
    monkeypatch.setenv("NEXTUP_SECRET_KEY", SECRET_KEY)

    async def make(suffix: str) -> str:
        if not on_postgres():
            return f"sqlite://{tmp_path / (suffix + '.sqlite3')}"
        parts = urlsplit(os.environ["NEXTUP_TEST_DATABASE_URL"])
        url = urlunsplit(parts._replace(path=f"{parts.path}_{suffix}"))
        await suite_database.claim(url)
        return url

    return make


async def the_app_works_on(url: str) -> None:
    """The stored morning, through the service a counter's "call next" goes through: the
    next patient is the one who waited longest, the line is what is left."""
    from nextup.wiring import build_container

    settings = load_settings(database_url=url, redis_url=None, secret_key=SECRET_KEY)
    container = build_container(settings, clock=FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    await container.start(migrate=False)
    try:
        called = await container.queues.call_next("PHARM", "2", "staff:anna")
        status = await container.queues.status("PHARM")
        stored = await TicketRow.get(id="t-3")
    finally:
        await container.stop()
    assert called.number == stored_day.WAITING[0] and called.id == "t-3"
    assert [t.number for t in status.queue.waiting()] == stored_day.WAITING[1:]
    assert stored.status == "called" and stored.counter == "2"
