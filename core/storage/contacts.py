"""What a patient chose for an address across every queue: here, whether they opted out.

Opting out (an SMS `STOP`, or the provider reporting it) is honoured at once: the
dispatcher checks it before every send, so messages already queued are held back too.
"""

from __future__ import annotations

from collections.abc import Collection

from core.storage.models import Contact


async def set_opted_out(channel: str, address: str, opted_out: bool) -> None:
    contact, _ = await Contact.get_or_create(channel=channel, address=address)
    if contact.opted_out != opted_out:
        contact.opted_out = opted_out
        await contact.save(update_fields=["opted_out", "updated_at"])


async def opted_out(channel: str, addresses: Collection[str]) -> set[str]:
    """Which of `addresses` asked not to be written to on `channel`."""
    if not addresses:
        return set()
    rows = await Contact.filter(channel=channel, address__in=list(addresses), opted_out=True)
    return {row.address for row in rows}
