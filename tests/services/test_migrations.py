"""Migrations that carry stored data over (SQLite file; the suite's databases are migrated
from empty on both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as run_migrations

from core.domain.ladder import DEFAULT_CALL_LADDER
from core.storage import contacts, pseudonyms
from core.storage.db import tortoise_config
from core.storage.mapping import config_from_row
from core.storage.models import QueueConfigRow
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


async def test_queues_that_existed_get_the_default_call_ladder(tmp_path: Path) -> None:
    """0009: a queue made before the call ladder keeps its SMS step (the escalation it had)
    and gets the rest of the default ladder."""
    config = tortoise_config(f"sqlite://{tmp_path / 'old.sqlite3'}")
    await run_migrations(config=config, target="nextup.0008_timer")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    await connections.get("default").execute_script(
        "INSERT INTO queues (id, code, name, prefix, day_seq, created_at, updated_at)"
        " VALUES (1, 'PHARM', 'Pharmacy', 'A', 2, '2026-01-01', '2026-01-01');"
        "INSERT INTO queue_configs (queue_id, mode, weight_priority, weight_wait_time,"
        " weight_appointment, notify_positions, no_show_grace_s, default_service_s,"
        " wait_horizon_s, appointment_window_s, timezone, language, eta_change_margin_s,"
        " eta_update_interval_s) VALUES"
        " (1, 'fifo', 0.5, 0.3, 0.2, '[3,1]', 300, 300, 3600, 1800, 'UTC', 'en', 600, 900);"
    )
    await Tortoise.close_connections()
    await run_migrations(config=config)
    await Tortoise.init(config=config)
    try:
        row = await QueueConfigRow.get(queue_id=1)
    finally:
        await Tortoise.close_connections()
    assert config_from_row(row).call_ladder == DEFAULT_CALL_LADDER


async def test_the_outbox_is_numbered_in_the_order_decided(tmp_path: Path) -> None:
    """0011: existing messages get `seq` by `created_at`, and every new one its own, above
    them, from the database whoever inserts it."""
    config = tortoise_config(f"sqlite://{tmp_path / 'old.sqlite3'}")
    await run_migrations(config=config, target="nextup.0010_public_name")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    columns = "id, idempotency_key, channel, recipient, kind, payload, urgent, status, attempts"
    await connections.get("default").execute_script(
        f"INSERT INTO outbox ({columns}, next_attempt_at, created_at) VALUES"
        " ('late', 'k1', 'sms', '+1', 'called', '{}', 1, 'queued', 0, '2026-01-01 10:00:02',"
        " '2026-01-01 10:00:02'),"
        " ('early', 'k2', 'sms', '+1', 'joined', '{}', 0, 'sent', 1, '2026-01-01 10:00:01',"
        " '2026-01-01 10:00:01')"
    )
    await Tortoise.close_connections()
    await run_migrations(config=config)
    await Tortoise.init(config=config)
    try:
        db = connections.get("default")
        await db.execute_script(
            f"INSERT INTO outbox ({columns}, next_attempt_at, created_at) VALUES"
            " ('new', 'k3', 'sms', '+1', 'done', '{}', 0, 'queued', 0, '2026-01-01 09:00:00',"
            " '2026-01-01 09:00:00')"
        )
        rows = await db.execute_query_dict("SELECT id, seq FROM outbox ORDER BY seq")
    finally:
        await Tortoise.close_connections()
    assert [r["id"] for r in rows] == ["early", "late", "new"]
    assert all(r["seq"] is not None for r in rows)


async def test_stored_contacts_keep_their_choice_under_a_keyed_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0012: the suppression list no longer holds numbers. A number that opted out before
    the upgrade is found (and still suppressed) by its keyed hash; the number is gone."""
    monkeypatch.setenv("NEXTUP_SECRET_KEY", "the servers' secret key")
    config = tortoise_config(f"sqlite://{tmp_path / 'old.sqlite3'}")
    await run_migrations(config=config, target="nextup.0011_outbox_seq")
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
