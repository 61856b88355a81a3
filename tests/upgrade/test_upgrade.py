"""Upgrades: a database populated at each migration in migrations/ (every one, found by
listing the directory, so a migration added later is covered) is migrated to the latest,
keeps every row and value, and serves a call-next. On SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate as run_migrations

from core.storage.db import tortoise_config
from tests.upgrade import stored_day
from tests.upgrade.conftest import ScratchDatabase, the_app_works_on

MIGRATIONS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[2] / "migrations").glob("[0-9]*.py")
)


def test_every_migration_is_listed() -> None:
    assert MIGRATIONS[0] == "0001_initial" and len(MIGRATIONS) >= 12
    assert [int(m[:4]) for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.parametrize("step", MIGRATIONS)
async def test_data_written_at_a_migration_survives_the_upgrade(
    step: str, scratch_database: ScratchDatabase
) -> None:
    url = await scratch_database("upgrade")
    config = tortoise_config(url)
    await run_migrations(config=config, target=f"nextup.{step}")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        written = await stored_day.write()
    finally:
        await Tortoise.close_connections()
    assert {"queues", "queue_configs", "counters", "tickets", "ticket_events"} <= set(written)
    assert {"outbox", "staff_accounts"} <= set(written)

    await run_migrations(config=config)  # to the latest, as `nextup migrate` does
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        problems, compared = await stored_day.differences(written)
        assert problems == []
        assert compared > 250  # every row's every column, not a few
    finally:
        await Tortoise.close_connections()
    await the_app_works_on(url)
