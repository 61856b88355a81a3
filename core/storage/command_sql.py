"""The statements of a queue command's load and save, as plain SQL over tuples.

Building an ORM object per live ticket cost more than everything else a command does once
the line grows (a call-next with 800 waiting: a quarter of a second), so the unit of work
reads and writes the tickets, the queue row and its counters here, in as few round trips as
it can; the ORM stays for everything off that path. Written for both dialects the project
runs on: PostgreSQL (`$1` parameters, row locks) and SQLite (`?` parameters, no row locks:
its transactions already run one at a time, `core.storage.db`), where datetimes are stored
as ISO text and booleans as integers.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import BooleanField, DatetimeField

from core.domain.hourly import PEAK_FIGURES, HourlyTally
from core.domain.model import LIVE_STATUSES, TicketStatus
from core.storage.mapping import STORED_TICKET_FIELDS
from core.storage.models import QueueConfigRow, QueueRow, TicketRow

TICKET_SELECT = ("id", *STORED_TICKET_FIELDS, "version")
"""A loaded ticket row: its id, its stored fields, its version."""
ROWS_BATCH = 500
"""Rows per statement where one names many tickets: well below either database's limit
on parameters."""
VALUES_PER_STATEMENT = 4000
"""Parameters of one multi-row INSERT: a command that advises a long line writes a row per
patient, in a few statements, well below either database's limit (PostgreSQL 32767,
SQLite 32766 since 3.32)."""
PARAMETERS_PER_BATCH = 30000
"""Parameters of the one statement a command's writes are sent in on PostgreSQL: below
its limit of 32767 (a broadcast to a long line takes a few)."""


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return bool(conn.capabilities.dialect == "postgres")


@functools.lru_cache(maxsize=512)
def _sql(postgres: bool, statement: str) -> str:
    """`statement` with `?` parameters, in the connection's own parameter style."""
    if not postgres:
        return statement
    numbers = iter(range(1, statement.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(numbers)}", statement)


async def _query(conn: BaseDBAsyncClient, statement: str, values: Sequence[Any]) -> list[Any]:
    return list((await conn.execute_query(_sql(is_postgres(conn), statement), list(values)))[1])


async def returning(
    conn: BaseDBAsyncClient, statement: str, values: Sequence[Any]
) -> list[dict[str, Any]]:
    """The rows a write with RETURNING gives (or a read), by column (`execute_query` drops
    the rows of an UPDATE, INSERT or DELETE on PostgreSQL)."""
    return await conn.execute_query_dict(_sql(is_postgres(conn), statement), list(values))


async def write(conn: BaseDBAsyncClient, statement: str, values: Sequence[Any]) -> int:
    """Runs a write; the number of rows it changed."""
    return (await conn.execute_query(_sql(is_postgres(conn), statement), list(values)))[0]


CounterValues = tuple[int, str, bool]
"""A counter row: id, name, is_open."""


async def queue_rows(
    conn: BaseDBAsyncClient, code: str, lock: bool
) -> tuple[QueueRow, QueueConfigRow, list[CounterValues]] | None:
    """The queue's row, its settings and its counters (in the order they were made) in one
    query; with `lock` the queue row stays locked until the transaction ends (PostgreSQL;
    SQLite's transactions are serial)."""
    postgres = is_postgres(conn)
    locking = " FOR UPDATE OF q" if lock and postgres else ""
    counters = (
        "(SELECT json_agg(json_build_array(k.id, k.name, k.is_open) ORDER BY k.id)"
        " FROM counters k WHERE k.queue_id = q.id)"
        if postgres
        else "(SELECT json_group_array(json_array(k.id, k.name, k.is_open))"
        " FROM (SELECT id, name, is_open FROM counters WHERE queue_id = q.id ORDER BY id) k)"
    )
    rows = await _query(
        conn,
        f"SELECT q.*, c.*, {counters} AS counter_list FROM queues q"
        f" JOIN queue_configs c ON c.queue_id = q.id WHERE q.code = ?{locking}",
        [code],
    )
    if not rows:
        return None
    columns = dict(rows[0])
    counter_list = columns.pop("counter_list") or "[]"
    if isinstance(counter_list, str):  # JSON comes as text unless a codec decodes it
        counter_list = json.loads(counter_list)
    return (
        QueueRow._init_from_db(**columns),
        QueueConfigRow._init_from_db(**columns),
        [(counter_id, name, bool(is_open)) for counter_id, name, is_open in counter_list],
    )


async def live_lines(conn: BaseDBAsyncClient) -> list[tuple[str, datetime | None, bool, bool]]:
    """(code, reevaluated_at, somebody waiting, somebody called) of the queues with somebody
    waiting or called, by code: one query over the (queue_id, status) index, whatever the
    number of queues; a queue with neither costs its part of it and nothing else."""
    live = "EXISTS (SELECT 1 FROM tickets t WHERE t.queue_id = q.id AND t.status = '{}')".format
    waiting, called = live(TicketStatus.WAITING.value), live(TicketStatus.CALLED.value)
    rows = await _query(
        conn,
        f"SELECT code, reevaluated_at, waiting, called FROM (SELECT q.code, q.reevaluated_at,"
        f" {waiting} AS waiting, {called} AS called FROM queues q) lines"
        " WHERE waiting OR called ORDER BY code",
        [],
    )
    decode = (lambda v: v) if is_postgres(conn) else _parse_datetime
    return [(row[0], decode(row[1]), bool(row[2]), bool(row[3])) for row in rows]


async def claim_reevaluation(
    conn: BaseDBAsyncClient, code: str, since: datetime | None, now: datetime
) -> bool:
    """Stamps the queue re-evaluated at `now` if its stamp is still `since` (as read by
    `live_lines`): False when another process stamped it since. The UPDATE takes the
    queue row's lock until the transaction ends (PostgreSQL re-reads the stamp once the
    lock is free; SQLite has one writer at a time), so two processes never both win."""
    unchanged = "reevaluated_at IS NULL" if since is None else "reevaluated_at = ?"
    stamps = [] if since is None else [since.astimezone(UTC)]
    updated = await write(
        conn,
        f"UPDATE queues SET reevaluated_at = ? WHERE code = ? AND {unchanged}",
        [now.astimezone(UTC), code, *stamps],
    )
    return updated == 1


def _live_or(extra_ids: Sequence[str]) -> str:
    live = ", ".join(f"'{status.value}'" for status in sorted(LIVE_STATUSES))
    extra = f" OR id IN ({', '.join('?' * len(extra_ids))})" if extra_ids else ""
    return f"(status IN ({live}){extra})"


async def ticket_versions(
    conn: BaseDBAsyncClient, queue_id: int, extra_ids: Sequence[str]
) -> dict[str, int]:
    """The versions of the queue's live tickets and of those of `extra_ids`, by id."""
    rows = await _query(
        conn,
        f"SELECT id, version FROM tickets WHERE queue_id = ? AND {_live_or(extra_ids)}",
        [queue_id, *extra_ids],
    )
    return dict(rows)  # each row is (id, version): made in C, not row by row in Python


async def ticket_rows(conn: BaseDBAsyncClient, ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The tickets of `ids`, each as TICKET_SELECT's values."""
    rows = []
    for start in range(0, len(ids), ROWS_BATCH):
        batch = ids[start : start + ROWS_BATCH]
        rows += await _query(
            conn,
            f"SELECT {', '.join(TICKET_SELECT)} FROM tickets"
            f" WHERE id IN ({', '.join('?' * len(batch))})",
            batch,
        )
    if is_postgres(conn):
        return [tuple(row) for row in rows]
    decoders = _sqlite_decoders()
    return [
        tuple(decode(value) for decode, value in zip(decoders, row, strict=True)) for row in rows
    ]


def _parse_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _keep(value: Any) -> Any:
    return value


def _to_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


@functools.cache
def _sqlite_decoders() -> tuple[Callable[[Any], Any], ...]:
    """Per TICKET_SELECT column, what turns SQLite's value into the Python one."""
    fields = TicketRow._meta.fields_map

    def decoder(name: str) -> Callable[[Any], Any]:
        field = fields[name]
        if isinstance(field, DatetimeField):
            return _parse_datetime
        if isinstance(field, BooleanField):
            return _to_bool
        return _keep

    return tuple(decoder(name) for name in TICKET_SELECT)


class Writes:
    """The writes of one command, sent together when it saves: on PostgreSQL as one
    statement of data-modifying WITH clauses (a round trip for all of them, not one each,
    so the queue's lock is held for less), on SQLite one by one (no round trips to save
    there). Each write may say how many rows it must change; `run` tells whether all did.
    A row may be written once per batch: PostgreSQL leaves the order of WITH clauses open."""

    def __init__(self) -> None:
        self._writes: list[tuple[str, list[Any], int | None]] = []

    def add(self, statement: str, values: Sequence[Any], rows: int | None = None) -> None:
        self._writes.append((statement, list(values), rows))

    def insert(self, table: str, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Rows of `table`, each with a value per column of `names` (in the database's own
        encoding: JSON as text), in as few statements as the parameter limit allows."""
        one = f"({', '.join('?' * len(names))})"
        per_statement = max(1, VALUES_PER_STATEMENT // len(names))
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            self.add(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([one] * len(batch))}",
                [value for row in batch for value in row],
            )

    def update_row(self, table: str, row_id: int, columns: Mapping[str, Any]) -> None:
        """Sets `columns` of the row of `table` with id `row_id` (which must exist)."""
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.add(
            f"UPDATE {table} SET {assignments} WHERE id = ?", [*columns.values(), row_id], rows=1
        )

    def insert_tickets(self, queue_id: int, tickets: list[tuple[str, dict[str, Any]]]) -> None:
        """New tickets, each as (id, its columns by name), at version 0."""
        self.insert(
            "tickets",
            ("id", "queue_id", *STORED_TICKET_FIELDS, "version"),
            [
                (ticket_id, queue_id, *(columns[n] for n in STORED_TICKET_FIELDS), 0)
                for ticket_id, columns in tickets
            ],
        )

    def update_ticket(
        self, ticket_id: str, version: int, queue_id: int, columns: dict[str, Any]
    ) -> None:
        """Writes the ticket if it is still at `version`, and bumps it (`run` is False when
        another command wrote it first)."""
        assignments = ", ".join(f"{name} = ?" for name in STORED_TICKET_FIELDS)
        self.add(
            f"UPDATE tickets SET queue_id = ?, version = ?, {assignments}"
            " WHERE id = ? AND version = ?",
            [
                queue_id,
                version + 1,
                *(columns[n] for n in STORED_TICKET_FIELDS),
                ticket_id,
                version,
            ],
            rows=1,
        )

    def add_to_hourly(self, queue_id: int, tally: HourlyTally, postgres: bool) -> None:
        """Adds one command's tally to its hour's row, made when it is the hour's first:
        one statement, whoever else adds to the same hour."""
        figures = tally.figures()
        names = list(figures)
        larger = "GREATEST" if postgres else "MAX"
        merged = ", ".join(
            f"{name} = {larger}(hourly_metrics.{name}, excluded.{name})"
            if name in PEAK_FIGURES
            else f"{name} = hourly_metrics.{name} + excluded.{name}"
            for name in names
            if name != "hour_start"
        )
        self.add(
            f"INSERT INTO hourly_metrics (queue_id, {', '.join(names)})"
            f" VALUES (?, {', '.join('?' * len(names))})"
            f" ON CONFLICT (queue_id, hour_start) DO UPDATE SET {merged}",
            [queue_id, *figures.values()],
        )

    async def run(self, conn: BaseDBAsyncClient) -> bool:
        """Sends the writes; False when one changed another number of rows than it said."""
        writes, self._writes = self._writes, []
        if not is_postgres(conn):
            changed = [await write(conn, statement, values) for statement, values, _ in writes]
            return _as_expected(writes, changed)
        held = True
        for group in _by_parameters(writes):
            clauses = ", ".join(f"w{i} AS ({w[0]} RETURNING 1)" for i, w in enumerate(group))
            counts = ", ".join(f"(SELECT count(*) FROM w{i})" for i in range(len(group)))
            [row] = await _query(
                conn, f"WITH {clauses} SELECT {counts}", [v for w in group for v in w[1]]
            )
            held = _as_expected(group, list(row)) and held
        return held


def _as_expected(writes: Sequence[tuple[str, list[Any], int | None]], changed: list[int]) -> bool:
    return all(rows is None or rows == n for (_, _, rows), n in zip(writes, changed, strict=True))


def _by_parameters(
    writes: list[tuple[str, list[Any], int | None]],
) -> list[list[tuple[str, list[Any], int | None]]]:
    """The writes in consecutive groups of at most PARAMETERS_PER_BATCH values each (a
    write with more goes alone)."""
    groups: list[list[tuple[str, list[Any], int | None]]] = [[]]
    size = 0
    for write in writes:
        if groups[-1] and size + len(write[1]) > PARAMETERS_PER_BATCH:
            groups.append([])
            size = 0
        groups[-1].append(write)
        size += len(write[1])
    return [group for group in groups if group]
