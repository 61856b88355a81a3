"""The outbox table as a work queue: claim due rows, then record what became of each.

A claim marks rows `sending` with a lease and a token. A dispatcher that dies holding rows
loses them when the lease runs out, and another claims them again. Results are recorded
only by the token's holder, so a dispatcher that was presumed dead cannot overwrite a
newer attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from core.delivery import Receipt
from core.storage.models import OutboxMessage


async def claim(
    channel: str, now: datetime, limit: int, lease_s: float, urgent_only: bool = False
) -> list[OutboxMessage]:
    """Due rows of one channel, "called" first; `SKIP LOCKED` keeps dispatchers apart."""
    if limit <= 0:
        return []
    due = Q(status="queued", next_attempt_at__lte=now) | Q(status="sending", claimed_until__lt=now)
    query = OutboxMessage.filter(due, channel=channel)
    if urgent_only:
        query = query.filter(urgent=True)
    token = str(uuid.uuid4())
    until = now + timedelta(seconds=lease_s)
    async with in_transaction() as conn:
        rows = (
            await query.order_by("-urgent", "created_at")
            .limit(limit)
            .select_for_update(skip_locked=True)
            .using_db(conn)
        )
        if not rows:
            return []
        await (
            OutboxMessage.filter(id__in=[r.id for r in rows])
            .using_db(conn)
            .update(
                status="sending",
                claim_token=token,
                claimed_until=until,
                attempts=F("attempts") + 1,
            )
        )
    for row in rows:
        row.status, row.claim_token, row.claimed_until = "sending", token, until
        row.attempts += 1
    return rows


async def mark_sent(row: OutboxMessage, receipt: Receipt, now: datetime) -> bool:
    """False when the claim was lost meanwhile (the lease ran out and another took it)."""
    return await _finish(
        row,
        status="sent",
        sent_at=now,
        provider_message_id=receipt.provider_message_id,
        delivered_to=receipt.delivered_to,
        last_error=None,
    )


async def retry_later(row: OutboxMessage, at: datetime, error: str) -> bool:
    return await _finish(row, status="queued", next_attempt_at=at, last_error=error)


async def mark_failed(row: OutboxMessage, error: str) -> bool:
    return await _finish(row, status="failed", last_error=error)


async def _finish(row: OutboxMessage, **values: object) -> bool:
    updated = await OutboxMessage.filter(id=row.id, claim_token=row.claim_token).update(
        claim_token=None, claimed_until=None, **values
    )
    return updated == 1


async def acknowledge(ticket_id: str, now: datetime) -> None:
    """The patient answered the call: its "called" and "recalled" messages say so."""
    await OutboxMessage.filter(
        ticket_id=ticket_id, kind__in=["called", "recalled"], status="sent"
    ).update(status="acknowledged", acknowledged_at=now)


async def for_ticket(ticket_id: str) -> list[OutboxMessage]:
    return await OutboxMessage.filter(ticket_id=ticket_id).order_by("created_at", "kind")
