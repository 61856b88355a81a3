"""A morning's data written as plain SQL into a database at any step of its migrations,
and read back after the upgrade: what `test_upgrade.py` and `test_backup.py` share.

Each table gets only the columns it has at that step (read from the database itself), so a
migration added later is covered without changing this file, unless it adds a NOT NULL
column without a database default: then the insert would fail, and `fill` says which
column needs a value in `VALUES` below."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from core.storage.models import DEFAULT_LADDER_ROWS

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0.replace(minute=minutes)


TICKETS = {  # id: (number, status, counter, called minute, finished minute, position)
    "t-1": ("A-001", "done", "1", 5, 9, None),
    "t-2": ("A-002", "called", "1", 12, None, None),
    "t-3": ("A-003", "waiting", None, None, None, 1),
    "t-4": ("A-004", "waiting", None, None, None, 2),
    "t-5": ("A-005", "no_show", "2", 6, 11, None),
}
WAITING = ["A-003", "A-004"]


def ticket(ticket_id: str, seq: int) -> dict[str, Any]:
    number, status, counter, called, finished, position = TICKETS[ticket_id]
    return {
        "id": ticket_id,
        "queue_id": 1,
        "number": number,
        "seq": seq,
        "token": f"token-{ticket_id}",
        "status": status,
        "priority": 0,
        "joined_at": at(seq),
        "line_at": at(seq),
        "appointment_at": None,
        "counter": counter,
        "called_at": None if called is None else at(called),
        "recalled_at": None,
        "started_at": None,
        "finished_at": None if finished is None else at(finished),
        "recall_count": 0,
        "name": None,
        "phone": None,
        "telegram_chat_id": 5550 + seq,
        "language": "es",
        "late_count": 0,
        "travel_s": None,
        "announced_eta_s": None,
        "announced_at": None,
        "leave_now_sent": False,
        "acknowledged_at": None,
        "rating": 5 if status == "done" else None,
        "service": None,
        "fifo_call_at": None,
        "told_position": None,
        "position": position,  # before 0007: the stored place in line
        "unreachable_at": None,
        "version": 3,
        "purged_at": None,
    }


def events() -> list[dict[str, Any]]:
    rows = []
    for n, (ticket_id, (_, status, counter, _, _, _)) in enumerate(TICKETS.items(), start=1):
        steps = [("joined", None, "waiting")]
        if status != "waiting":
            steps.append(("called", "waiting", "called"))
        if status in ("done", "no_show"):
            steps.append((status, "called", status))
        for k, (kind, before, after) in enumerate(steps):
            rows.append(
                {
                    "id": f"e-{n}-{k}",
                    "ticket_id": ticket_id,
                    "queue_code": "PHARM",
                    "type": kind,
                    "from_status": before,
                    "to_status": after,
                    "old_position": None,
                    "new_position": None,
                    "counter": counter if kind != "joined" else None,
                    "actor": "staff:anna" if kind != "joined" else "patient",
                    "at": at(n + k),
                    "seq": k,
                    "data": {},
                }
            )
    return rows


VALUES: dict[str, list[dict[str, Any]]] = {
    "staff_accounts": [
        {
            "id": 1,
            "name": "anna",
            "role": "admin",
            "password_hash": "$argon2id$not-a-real-hash",
            "telegram_chat_id": 777,
            "telegram_user_id": 777,
            "is_active": True,
            "session_epoch": 2,
            "queues": [],
            "created_at": T0,
            "last_queue": "PHARM",
            "last_counter": "1",
        }
    ],
    "queues": [
        {
            "id": 1,
            "code": "PHARM",
            "name": "Pharmacy",
            "public_name": None,
            "prefix": "A",
            "day_seq": 5,
            "day_seq_date": "2026-03-02",
            "created_at": T0,
            "updated_at": T0,
            "reevaluated_at": None,
        }
    ],
    "queue_configs": [
        {
            "queue_id": 1,
            "mode": "fifo",
            "weight_priority": 0.5,
            "weight_wait_time": 0.3,
            "weight_appointment": 0.2,
            "capacity": 40,
            "overflow_queue": None,
            "notify_positions": [3, 1],
            "no_show_grace_s": 420,
            "default_service_s": 240,
            "wait_horizon_s": 5400,
            "appointment_window_s": 1800,
            "timezone": "Europe/Madrid",
            "language": "es",
            "eta_change_margin_s": 600,
            "eta_update_interval_s": 900,
            "wait_alert_s": 1500,
            "service_times_s": {},
            "fairness_cap_s": 1200,
            "call_ladder": DEFAULT_LADDER_ROWS,
        }
    ],
    "counters": [
        {"id": 1, "queue_id": 1, "name": "1", "is_open": True},
        {"id": 2, "queue_id": 1, "name": "2", "is_open": True},
    ],
    "tickets": [ticket(ticket_id, n) for n, ticket_id in enumerate(TICKETS, start=1)],
    "ticket_events": events(),
    "outbox": [
        {
            "id": "o-1",
            "idempotency_key": "t-3:joined",
            "ticket_id": "t-3",
            "event_id": "e-3-0",
            "channel": "telegram",
            "recipient": "5553",
            "kind": "joined",
            "payload": {"number": "A-003"},
            "urgent": False,
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": at(3),
            "created_at": at(3),
        }
    ],
    "hourly_metrics": [
        {
            "id": 1,
            "queue_id": 1,
            "hour_start": T0,
            "joined": 5,
            "called": 3,
            "completed": 1,
            "no_shows": 1,
            "cancelled": 0,
            "wait_s_sum": 660.0,
            "wait_s_max": 300.0,
            "service_s_sum": 240.0,
            "peak_size": 4,
            "size_sum": 10,
            "size_samples": 3,
        }
    ],
    "contacts": [
        {
            "id": 1,
            "channel": "sms",
            "address": "+34600111222",
            "language": "es",
            "opted_out": True,
            "updated_at": T0,
        }
    ],
}
"""Every table's rows, in the order they are inserted (foreign keys first), each with a
value for every column any version of the table has had."""


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    """NOT NULL without a database default: the insert must name it."""


async def columns(conn: BaseDBAsyncClient) -> dict[str, dict[str, Column]]:
    """Every table's columns as the database has them now."""
    tables: dict[str, dict[str, Column]] = {}
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            "SELECT table_name, column_name, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        )
        for r in rows:
            required = r["is_nullable"] == "NO" and r["column_default"] is None
            tables.setdefault(r["table_name"], {})[r["column_name"]] = Column(
                r["column_name"], required
            )
        return tables
    names = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'table'")
    for t in names:
        info = await conn.execute_query_dict(f"PRAGMA table_info({t['name']})")
        tables[t["name"]] = {
            c["name"]: Column(
                c["name"], bool(c["notnull"]) and c["dflt_value"] is None and not c["pk"]
            )
            for c in info
        }
    return tables


def literal(value: Any, postgres: bool) -> str:
    """A value as SQL: PostgreSQL casts a quoted literal to the column's type itself."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if postgres else str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    elif not isinstance(value, str):
        value = json.dumps(value)
    return "'" + value.replace("'", "''") + "'"


def fill(table: str, have: Mapping[str, Column], rows: list[dict[str, Any]], postgres: bool) -> str:
    missing = [c.name for c in have.values() if c.required and c.name not in rows[0]]
    assert not missing, (
        f"{table}.{missing} is NOT NULL without a default at this migration: give it a value "
        "in tests/upgrade/stored_day.py VALUES"
    )
    names = [name for name in rows[0] if name in have]
    tuples = ", ".join(
        "(" + ", ".join(literal(row[name], postgres) for name in names) + ")" for row in rows
    )
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {tuples}"


async def write() -> dict[str, dict[str, Column]]:
    """Writes the day into the database tortoise is connected to; the tables written, with
    the columns they had."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    have = await columns(conn)
    written = {}
    for table, rows in VALUES.items():
        if table in have:
            await conn.execute_script(fill(table, have[table], rows, postgres))
            written[table] = have[table]
    if postgres:  # rows given their ids move the sequences on, as the app's inserts would
        serials = await conn.execute_query_dict(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_default LIKE 'nextval%'"
        )
        for r in serials:
            if r["table_name"] in written:
                table, column = r["table_name"], r["column_name"]
                await conn.execute_query(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                    f" (SELECT MAX({column}) FROM {table}))"
                )
    return written


TRANSFORMED = {("contacts", "address")}
"""Columns a migration rewrites on purpose: 0012 replaces a contact's number by its keyed
hash (tests/services/test_migrations.py checks that the opt-out still holds)."""


def same(written: Any, read: Any) -> bool:
    """Equal as stored: SQLite gives datetimes as text and booleans as 0/1, PostgreSQL
    JSON as text."""
    if isinstance(written, datetime):
        if isinstance(read, str):
            read = datetime.fromisoformat(read)
        return bool(read == written)
    if isinstance(written, bool):
        return read in (written, int(written))
    if isinstance(written, list | dict) and isinstance(read, str):
        read = json.loads(read)
    if isinstance(written, str) and not isinstance(read, str):
        return str(read) == written  # a date column
    return bool(read == written)


async def differences(written: Mapping[str, Mapping[str, Column]]) -> tuple[list[str], int]:
    """What differs from what `write` put in the tables `written` (as they were then),
    read back from the database now: every row by its id, every column that was there
    then and still is; and how many values were compared."""
    conn = connections.get("default")
    now = await columns(conn)
    problems = []
    compared = 0
    for table, had in written.items():
        key = "queue_id" if table == "queue_configs" else "id"
        stored = {str(r[key]): r for r in await conn.execute_query_dict(f"SELECT * FROM {table}")}
        expected = VALUES[table]
        if sorted(stored) != sorted(str(row[key]) for row in expected):
            problems.append(f"{table}: ids {sorted(stored)}")
            continue
        for row in expected:
            got = stored[str(row[key])]
            for name, value in row.items():
                if name in had and name in now[table] and (table, name) not in TRANSFORMED:
                    compared += 1
                    if not same(value, got[name]):
                        problems.append(f"{table} {row[key]}.{name}: {value!r} -> {got[name]!r}")
    return problems, compared
