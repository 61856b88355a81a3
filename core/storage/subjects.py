"""Everything held about one person, found by their phone number or Telegram chat id: the
reads of an access request, and the rows an erasure request erases.

A person's tickets are those whose `phone` (or `telegram_chat_id`) is theirs; their
messages are those of their tickets, and those sent to their address with no ticket
(answers to texts that joined nothing); their dev-inbox entries, consent record and contact
are found by address (the last two by its keyed hash).
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q

from core.domain.model import LIVE_STATUSES
from core.storage.erasure import stray_messages_query
from core.storage.models import (
    ConsentRow,
    Contact,
    DevInboxMessage,
    OutboxMessage,
    TicketEventRow,
    TicketRow,
)
from core.storage.pseudonyms import address_hash

TICKET_FIELDS = (
    "id",
    "number",
    "status",
    "name",
    "phone",
    "telegram_chat_id",
    "token",
    "language",
    "priority",
    "service",
    "joined_at",
    "appointment_at",
    "called_at",
    "started_at",
    "finished_at",
    "counter",
    "acknowledged_at",
    "rating",
    "late_count",
    "travel_s",
)
MESSAGE_FIELDS = (
    "id",
    "created_at",
    "kind",
    "channel",
    "recipient",
    "payload",
    "status",
    "attempts",
    "sent_at",
    "delivered_to",
    "acknowledged_at",
    "provider_message_id",
    "provider_status",
    "provider_error_code",
    "last_error",
    "segments",
)
EVENT_FIELDS = (
    "at",
    "type",
    "actor",
    "from_status",
    "to_status",
    "counter",
    "old_position",
    "new_position",
    "data",
)
CONSENT_FIELDS = ("at", "channel", "action", "method")
DEV_INBOX_FIELDS = ("id", "created_at", "channel", "recipient", "text", "buttons")


async def ticket_ids(holder: dict[str, Any], live_only: bool = False) -> list[str]:
    query = TicketRow.filter(**holder)
    if live_only:
        query = query.filter(status__in=[s.value for s in LIVE_STATUSES])
    return [str(i) for i in await query.order_by("joined_at").values_list("id", flat=True)]


async def tickets(ids: list[str]) -> list[dict[str, Any]]:
    """The tickets, each with its queue's code, history, messages and consent record."""
    rows = await TicketRow.filter(id__in=ids).order_by("joined_at").prefetch_related("queue")
    events = TicketEventRow.filter(ticket_id__in=ids).order_by("at", "seq")
    history = await _grouped(events, EVENT_FIELDS)
    sent = OutboxMessage.filter(ticket_id__in=ids).order_by("created_at")
    messages = await _grouped(sent, MESSAGE_FIELDS)
    consents = await _grouped(ConsentRow.filter(ticket_id__in=ids).order_by("at"), CONSENT_FIELDS)
    return [
        {
            "queue": row.queue.code,
            **{name: getattr(row, name) for name in TICKET_FIELDS},
            "history": history.get(row.id, []),
            "messages": messages.get(row.id, []),
            "consents": consents.get(row.id, []),
        }
        for row in rows
    ]


async def _grouped(query: Any, fields: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in await query.values("ticket_id", *fields):
        grouped.setdefault(row.pop("ticket_id"), []).append(row)
    return grouped


async def stray_messages(channel: str, address: str) -> list[dict[str, Any]]:
    query = stray_messages_query(channel=channel, recipient=address).order_by("created_at")
    return list(await query.values(*MESSAGE_FIELDS))


async def stray_message_ids(channel: str, address: str) -> list[str]:
    query = stray_messages_query(channel=channel, recipient=address)
    return [str(i) for i in await query.values_list("id", flat=True)]


async def dev_inbox(channel: str, address: str) -> list[dict[str, Any]]:
    query = DevInboxMessage.filter(channel=channel, recipient=address).order_by("id")
    return list(await query.values(*DEV_INBOX_FIELDS))


async def dev_inbox_ids(channel: str, address: str) -> list[int]:
    query = DevInboxMessage.filter(channel=channel, recipient=address)
    return [int(str(i)) for i in await query.values_list("id", flat=True)]


async def consent_history(channel: str, address: str) -> list[dict[str, Any]]:
    """The opt-outs and opt-ins of the address (its joins' consents are with its tickets)."""
    query = ConsentRow.filter(
        ticket_id__isnull=True, channel=channel, address_hash=address_hash(channel, address)
    ).order_by("at")
    return list(await query.values(*CONSENT_FIELDS))


async def consent_history_ids(channel: str, address: str, ticket_ids: list[str]) -> list[int]:
    """Every consent row of the address, and of the tickets."""
    hashed = address_hash(channel, address)
    query = ConsentRow.filter(Q(channel=channel, address_hash=hashed) | Q(ticket_id__in=ticket_ids))
    return [int(str(i)) for i in await query.values_list("id", flat=True)]


async def contact(channel: str, address: str) -> dict[str, Any] | None:
    row = await Contact.get_or_none(channel=channel, address=address_hash(channel, address))
    if row is None:
        return None
    return {
        "channel": row.channel,
        "opted_out": row.opted_out,
        "language": row.language,
        "updated_at": row.updated_at,
    }


async def contact_ids(channel: str, address: str) -> list[int]:
    query = Contact.filter(channel=channel, address=address_hash(channel, address))
    return [int(str(i)) for i in await query.values_list("id", flat=True)]


async def pending_messages(ids: list[str]) -> int:
    """Messages of these tickets not sent (nor given up) yet."""
    return await OutboxMessage.filter(ticket_id__in=ids, status__in=["queued", "sending"]).count()
