"""A call nobody answered on Telegram goes again by SMS.

A patient who was called but has not pressed "I'm on my way" within the set time (or
whose Telegram message could not be delivered at all) may not have seen it; when staff
know their phone number, the same message is sent by SMS. The console shows both records,
so staff see which channel reached the patient.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from core.domain.model import TicketStatus
from core.storage.models import OutboxMessage

log = logging.getLogger(__name__)
ESCALATED_KINDS = ("called", "recalled")


async def escalate_unanswered_calls(now: datetime, after_s: float) -> int:
    """Queues an SMS for each unanswered call; returns how many. Safe to run from several
    dispatchers at once: the SMS's idempotency key admits one per call."""
    cutoff = now - timedelta(seconds=after_s)
    unanswered = await OutboxMessage.filter(
        Q(status="sent", sent_at__lte=cutoff) | Q(status="failed"),
        channel="telegram",
        kind__in=ESCALATED_KINDS,
        ticket__status=TicketStatus.CALLED.value,
        ticket__phone__isnull=False,
    ).prefetch_related("ticket")
    if not unanswered:
        return 0
    event_ids = [row.event_id for row in unanswered]
    escalations = await OutboxMessage.filter(channel="sms", event_id__in=event_ids)
    already = {row.event_id for row in escalations}
    escalated = 0
    for row in unanswered:
        ticket = row.ticket
        if row.event_id in already or ticket is None or ticket.phone is None:
            continue
        if ticket.acknowledged_at is not None and ticket.acknowledged_at >= row.created_at:
            continue  # answered (perhaps before this message's send was even recorded)
        try:
            await OutboxMessage.create(
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
        except IntegrityError:
            continue  # another dispatcher escalated it a moment ago
        escalated += 1
        log.info("ticket %s: %s unanswered on Telegram; sending it by SMS", ticket.id, row.kind)
    return escalated
