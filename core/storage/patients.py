"""The queries of a patient's phone conversation: what they chose for their address
(`contacts`) and the tickets they hold.

A patient's tickets are found by `holder`: the ticket columns that name them
(`{"telegram_chat_id": ...}` or `{"phone": ...}`).
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import F

from core.domain.model import LIVE_STATUSES, Ticket
from core.storage.mapping import ticket_from_row
from core.storage.models import Contact, TicketRow
from core.storage.pseudonyms import address_hash

LIVE = [s.value for s in LIVE_STATUSES]


async def chosen_language(channel: str, address: str) -> str | None:
    contact = await Contact.get_or_none(channel=channel, address=address_hash(channel, address))
    return contact.language if contact else None


async def choose_language(
    channel: str, address: str, holder: dict[str, Any], language: str
) -> None:
    """Kept for the address, and set on every live ticket the patient holds."""
    contact, _ = await Contact.get_or_create(
        channel=channel, address=address_hash(channel, address)
    )
    contact.language = language
    await contact.save(update_fields=["language", "updated_at"])
    # A new version, so a command that loaded the ticket before does not write it back
    # with the old language, and a process holding its row (`TicketRowCache`) reloads it.
    await TicketRow.filter(status__in=LIVE, **holder).update(
        language=language, version=F("version") + 1
    )


async def latest_ticket(holder: dict[str, Any]) -> Ticket | None:
    """The patient's most recent ticket, live or not."""
    row = await TicketRow.filter(**holder).order_by("-joined_at").first().prefetch_related("queue")
    return ticket_from_row(row, row.queue.code) if row else None


async def live_tickets(holder: dict[str, Any], code: str | None, limit: int) -> list[Ticket]:
    """Waiting, called or being served (in queue `code`, or any), oldest first."""
    query = TicketRow.filter(status__in=LIVE, **holder)
    if code is not None:
        query = query.filter(queue__code=code)
    rows = await query.order_by("joined_at").limit(limit).prefetch_related("queue")
    return [ticket_from_row(r, r.queue.code) for r in rows]
