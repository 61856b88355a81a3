"""The consent record of one ticket, as staff see it on the ticket's page: how its patient
asked to be messaged, and the opt-outs and opt-ins of its address (found by keyed hash)."""

from __future__ import annotations

from tortoise.expressions import Q

from core.storage.models import ConsentRow
from core.storage.pseudonyms import address_hash


async def of_ticket(ticket_id: str, channel: str | None, address: str | None) -> list[ConsentRow]:
    """Oldest first; `channel` and `address`: where the patient is messaged (None: nowhere)."""
    mine = Q(ticket_id=ticket_id)
    if channel is not None and address is not None:
        hashed = address_hash(channel, address)
        mine |= Q(ticket_id__isnull=True, channel=channel, address_hash=hashed)
    return list(await ConsentRow.filter(mine).order_by("at", "id"))
