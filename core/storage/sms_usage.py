"""What one phone number has made NextUp do, counted on indexes: its joins, and the texts
sent to it (the outbox records every one, replies included)."""

from __future__ import annotations

from datetime import datetime

from core.domain.notify import DeliveryStatus
from core.storage.models import OutboxMessage, TicketRow

NOT_SENT = (DeliveryStatus.FAILED, DeliveryStatus.SUPPRESSED)


async def joins_since(phone: str, since: datetime) -> int:
    return await TicketRow.filter(phone=phone, joined_at__gte=since).count()


async def texts_since(phone: str, since: datetime, replies_only: bool = False) -> int:
    """Texts that went (or are going) to the number since `since`; with `replies_only`,
    answers to its own texts alone."""
    texts = OutboxMessage.filter(channel="sms", recipient=phone, created_at__gte=since).exclude(
        status__in=NOT_SENT
    )
    if replies_only:
        texts = texts.filter(idempotency_key__startswith="reply:")
    return await texts.count()
