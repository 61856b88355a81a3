"""The queries of the analytics (`core.services.reports`): what joined when, who called and
completed it, what its SMS cost. Read-only; the visits are selected by when they joined."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from core.domain.notify import DeliveryStatus
from core.storage.models import (
    HourlyMetric,
    OutboxMessage,
    QueueConfigRow,
    QueueRow,
    TicketEventRow,
    TicketRow,
)
from core.storage.queues import queue_row


async def queue_and_timezone(code: str) -> tuple[QueueRow, str]:
    """The queue's row and the time zone its days are counted in; unknown: NotFound."""
    row = await queue_row(code)
    config = await QueueConfigRow.get(queue_id=row.id)
    return row, config.timezone


async def tickets_joined(
    queue_id: int, start: datetime, end: datetime | None = None
) -> list[TicketRow]:
    """The tickets that joined in [start, end) (no end: up to now), oldest first."""
    query = TicketRow.filter(queue_id=queue_id, joined_at__gte=start)
    if end is not None:
        query = query.filter(joined_at__lt=end)
    return await query.order_by("joined_at", "seq")


async def count_joined(code: str, start: datetime, end: datetime) -> int:
    return await TicketRow.filter(queue__code=code, joined_at__gte=start, joined_at__lt=end).count()


async def latest_actors(
    queue_id: int, start: datetime, end: datetime, types: Sequence[str]
) -> dict[str, dict[str, str]]:
    """ticket id -> {event type -> actor of its latest such event}, from the audit trail,
    over the tickets that joined in [start, end)."""
    rows = (
        await TicketEventRow.filter(
            ticket__queue_id=queue_id,
            ticket__joined_at__gte=start,
            ticket__joined_at__lt=end,
            type__in=types,
        )
        .order_by("at", "seq")
        .values_list("ticket_id", "type", "actor")
    )
    actors: dict[str, dict[str, str]] = defaultdict(dict)
    for ticket_id, kind, actor in rows:
        actors[ticket_id][kind] = actor
    return actors


async def sms_segments(
    queue_id: int, start: datetime, end: datetime | None = None
) -> dict[str, int]:
    """Segments per visit that joined in [start, end): only what went out by SMS (not to
    the dev inbox), replies included."""
    query = OutboxMessage.filter(
        ticket__queue_id=queue_id,
        ticket__joined_at__gte=start,
        channel="sms",
        delivered_to="sms",
        segments__not_isnull=True,
    )
    if end is not None:
        query = query.filter(ticket__joined_at__lt=end)
    per_visit: dict[str, int] = {}
    for ticket_id, segments in await query.values_list("ticket_id", "segments"):
        per_visit[ticket_id] = per_visit.get(ticket_id, 0) + segments
    return per_visit


async def failed_notifications(queue_id: int, start: datetime, end: datetime) -> int:
    """Messages about the visits that joined in [start, end) that were given up on
    (`failed`: not delivered after their retries, or refused by the provider)."""
    return await OutboxMessage.filter(
        ticket__queue_id=queue_id,
        ticket__joined_at__gte=start,
        ticket__joined_at__lt=end,
        status=DeliveryStatus.FAILED.value,
    ).count()


async def hourly_rows(queue_id: int, start: datetime, end: datetime) -> list[HourlyMetric]:
    """The queue's hourly rows of the hours starting in [start, end), in order."""
    return await HourlyMetric.filter(
        queue_id=queue_id, hour_start__gte=start, hour_start__lt=end
    ).order_by("hour_start")


async def joined_by_hour(code: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """(UTC hour start, tickets joined) of the queue's hourly rows of [start, end): what
    the two-hour forecast learns its arrival rates from. Unknown queue: NotFound."""
    row = await queue_row(code)
    rows = await HourlyMetric.filter(
        queue_id=row.id, hour_start__gte=start, hour_start__lt=end
    ).values_list("hour_start", "joined")
    return [(hour_start, joined) for hour_start, joined in rows]
