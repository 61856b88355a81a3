"""What the monitoring reads at each scrape of `/metrics`: the lines and the outbox as the
database has them, so every process answers the same whichever one Prometheus reaches
(`serve --workers N` shares one port; a process-local counter would differ per worker).

Two statements per scrape, both over existing indexes: the waiting tickets by the
`(queue_id, status)` index, grouped per queue (one row per queue, its configuration
joined), and the due outbox rows by the `(status, next_attempt_at)` index, grouped per
channel. Both are read-only and take no lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from core.domain.model import TicketStatus
from core.domain.notify import DeliveryStatus
from core.storage import command_sql


@dataclass(frozen=True)
class LineFigures:
    queue: str
    waiting: int
    longest_wait_s: float
    """From the longest-waiting patient's join to now (what the console's board shows); 0
    with nobody waiting."""
    wait_alert_s: int


def _as_datetime(value: Any) -> datetime | None:
    """A datetime as the driver gives it: asyncpg's own, or SQLite's ISO text."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _age_s(since: Any, now: datetime) -> float:
    at = _as_datetime(since)
    return 0.0 if at is None else max(0.0, (now - at).total_seconds())


async def lines(now: datetime) -> list[LineFigures]:
    """Every queue, by code, with its waiting count, longest wait and wait alert."""
    rows = await command_sql.returning(
        connections.get("default"),
        "SELECT q.code AS code, c.wait_alert_s AS wait_alert_s, COUNT(t.id) AS waiting,"
        " MIN(t.joined_at) AS first_joined FROM queues q"
        " JOIN queue_configs c ON c.queue_id = q.id"
        " LEFT JOIN tickets t ON t.queue_id = q.id AND t.status = ?"
        " GROUP BY q.code, c.wait_alert_s ORDER BY q.code",
        [TicketStatus.WAITING.value],
    )
    return [
        LineFigures(
            queue=row["code"],
            waiting=int(row["waiting"]),
            longest_wait_s=_age_s(row["first_joined"], now),
            wait_alert_s=int(row["wait_alert_s"]),
        )
        for row in rows
    ]


async def outbox_overdue_s(now: datetime) -> dict[str, float]:
    """Per channel, how long the oldest notification due to be sent has been due: a queued
    row from its `next_attempt_at` (a new message's creation; a retry's set time, so a
    retry waiting out its backoff is not counted as late), a claimed row whose lease ran
    out (its dispatcher died) from the end of that lease. Channels with nothing due are
    absent."""
    rows = await command_sql.returning(
        connections.get("default"),
        "SELECT channel, MIN(due_at) AS due_at FROM ("
        " SELECT channel, MIN(next_attempt_at) AS due_at FROM outbox"
        " WHERE status = ? AND next_attempt_at <= ? GROUP BY channel"
        " UNION ALL"
        " SELECT channel, MIN(claimed_until) AS due_at FROM outbox"
        " WHERE status = ? AND claimed_until < ? GROUP BY channel"
        ") due GROUP BY channel",
        [DeliveryStatus.QUEUED.value, now, DeliveryStatus.SENDING.value, now],
    )
    return {row["channel"]: _age_s(row["due_at"], now) for row in rows}
