"""A call nobody answered on Telegram goes again by SMS.

A patient who was called but has not pressed "I'm on my way" within the set time (or
whose Telegram message could not be delivered at all) may not have seen it; when staff
know their phone number, the same message is sent by SMS. The console shows both records,
so staff see which channel reached the patient.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Protocol

from core.storage.models import OutboxMessage

log = logging.getLogger(__name__)
ESCALATED_KINDS = ("called", "recalled")


class EscalationStore(Protocol):
    """What escalating asks of the outbox (`core.storage.outbox`; a fake in unit tests)."""

    async def unanswered_calls(
        self, cutoff: datetime, kinds: Collection[str]
    ) -> list[OutboxMessage]: ...

    async def sms_event_ids(self, event_ids: list[str | None]) -> set[str | None]: ...

    async def add_unless_present(self, message: OutboxMessage) -> bool: ...


async def escalate_unanswered_calls(store: EscalationStore, now: datetime, after_s: float) -> int:
    """Queues an SMS for each unanswered call; returns how many. Safe to run from several
    dispatchers at once: the SMS's idempotency key admits one per call."""
    cutoff = now - timedelta(seconds=after_s)
    unanswered = await store.unanswered_calls(cutoff, ESCALATED_KINDS)
    if not unanswered:
        return 0
    already = await store.sms_event_ids([row.event_id for row in unanswered])
    escalated = 0
    for row in unanswered:
        ticket = row.ticket
        if row.event_id in already or ticket is None or ticket.phone is None:
            continue
        if ticket.acknowledged_at is not None and ticket.acknowledged_at >= row.created_at:
            continue  # answered (perhaps before this message's send was even recorded)
        sms = OutboxMessage(
            id=str(uuid.uuid4()),
            idempotency_key=f"{row.event_id}:sms:{ticket.phone}",
            ticket_id=ticket.id,
            event_id=row.event_id,
            channel="sms",
            recipient=ticket.phone,
            kind=row.kind,
            payload=row.payload | {"escalated_from": row.id},
            urgent=True,
            next_attempt_at=now,
            created_at=now,
        )
        if not await store.add_unless_present(sms):
            continue  # another dispatcher escalated it a moment ago
        escalated += 1
        log.info("ticket %s: %s unanswered on Telegram; sending it by SMS", ticket.id, row.kind)
    return escalated
