"""Reads of tickets outside any command (no lock, no version check): the queue a ticket is
in, the patient at a counter, the latest no-shows."""

from __future__ import annotations

from datetime import datetime

from core.domain.model import AT_COUNTER_STATUSES
from core.storage.models import TicketRow

MAX_TICKET_ID_CHARS = 36
"""A UUID's length: a longer id names no ticket, so it is not looked up."""


async def queue_code_of(ticket_id: str) -> str | None:
    """The code of the ticket's queue; None for an unknown ticket."""
    if len(ticket_id) > MAX_TICKET_ID_CHARS:
        return None
    codes = await TicketRow.filter(id=ticket_id).values_list("queue__code", flat=True)
    return str(codes[0]) if codes else None


async def latest_at_counter(queue_code: str, counter: str) -> str | None:
    """The id of the ticket, still called or being served, that the counter called last."""
    at_counter = [s.value for s in AT_COUNTER_STATUSES]
    row = (
        await TicketRow.filter(queue__code=queue_code, counter=counter, status__in=at_counter)
        .order_by("-called_at")
        .first()
    )
    return row.id if row is not None else None


async def finished_since(
    queue_code: str, status: str, since: datetime, limit: int
) -> list[TicketRow]:
    """Tickets of the queue that ended in `status` since `since`, the latest first."""
    return (
        await TicketRow.filter(queue__code=queue_code, status=status, finished_at__gte=since)
        .order_by("-finished_at")
        .limit(limit)
    )
