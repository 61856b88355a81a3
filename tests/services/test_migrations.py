"""Migrations that carry stored data over (SQLite file; the suite's databases are migrated
from empty on both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as run_migrations

from core.storage import contacts, pseudonyms
from core.storage.db import tortoise_config
from core.storage.patients import chosen_language


async def test_the_stored_position_becomes_the_place_the_patient_was_told(
    tmp_path: Path,
) -> None:
    """0007: positions are derived, no longer stored. A waiting ticket's stored place is the
    one its patient last heard of, so "getting close" is not sent again for it."""
    config = tortoise_config(f"sqlite://{tmp_path / 'old.sqlite3'}")
    await run_migrations(config=config, target="nextup.0006_account_security")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    await connections.get("default").execute_script(
        "INSERT INTO queues (id, code, name, prefix, day_seq, created_at, updated_at)"
        " VALUES (1, 'PHARM', 'Pharmacy', 'A', 2, '2026-01-01', '2026-01-01');"
        "INSERT INTO tickets (id, queue_id, number, seq, token, status, priority, joined_at,"
        " line_at, recall_count, version, late_count, leave_now_sent, position) VALUES"
        " ('w', 1, 'A-002', 2, 'tw', 'waiting', 0, '2026-01-01', '2026-01-01', 0, 0, 0, 0, 3),"
        " ('c', 1, 'A-001', 1, 'tc', 'called', 0, '2026-01-01', '2026-01-01', 0, 0, 0, 0, NULL)"
    )
    await Tortoise.close_connections()
    await run_migrations(config=config)
    await Tortoise.init(config=config)
    try:
        db = connections.get("default")
        rows = await db.execute_query_dict("SELECT id, told_position FROM tickets ORDER BY id")
        columns = {r["name"] for r in await db.execute_query_dict("PRAGMA table_info(tickets)")}
    finally:
        await Tortoise.close_connections()
    assert [(r["id"], r["told_position"]) for r in rows] == [("c", None), ("w", 3)]
    assert "position" not in columns


async def test_stored_contacts_keep_their_choice_under_a_keyed_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0008: the suppression list no longer holds numbers. A number that opted out before
    the upgrade is found (and still suppressed) by its keyed hash; the number is gone."""
    monkeypatch.setenv("NEXTUP_SECRET_KEY", "the servers' secret key")
    config = tortoise_config(f"sqlite://{tmp_path / 'old.sqlite3'}")
    await run_migrations(config=config, target="nextup.0007_derived_line_order")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    await connections.get("default").execute_script(
        "INSERT INTO contacts (id, channel, address, language, opted_out, updated_at) VALUES"
        " (1, 'sms', '+34600111222', NULL, 1, '2026-01-01'),"
        " (2, 'telegram', '918273645', 'es', 0, '2026-01-01')"
    )
    await Tortoise.close_connections()
    await run_migrations(config=config)
    await Tortoise.init(config=config)
    try:
        pseudonyms.use_secret("the servers' secret key")
        assert await contacts.opted_out("sms", ["+34600111222", "+34600999999"]) == {"+34600111222"}
        assert await chosen_language("telegram", "918273645") == "es"
        rows = await connections.get("default").execute_query_dict("SELECT * FROM contacts")
    finally:
        await Tortoise.close_connections()
    assert "34600111222" not in str(rows) and "918273645" not in str(rows)
