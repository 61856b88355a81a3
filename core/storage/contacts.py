"""What a patient chose for an address across every queue: here, whether they opted out.

Opting out (an SMS `STOP`, or the provider reporting it) is honoured at once: the
dispatcher checks it before every send, so messages already queued are held back too.
The address is stored as its keyed hash (`core.storage.pseudonyms`): the suppression list
outlives the erasure of everything else about the patient, and never holds the number.
Each change is also written to the consent record (`consents`), with how it was asked.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from tortoise import connections

from core.storage import command_sql
from core.storage.models import ConsentRow, Contact
from core.storage.pseudonyms import address_hash

OPT_OUT, OPT_IN = "opt_out", "opt_in"


async def set_opted_out(
    channel: str,
    address: str,
    opted_out: bool,
    method: str = "provider",
    now: datetime | None = None,
) -> None:
    """`method`: how it was asked (`sms_stop`, `sms_start`; `provider` when Twilio said so)."""
    hashed = address_hash(channel, address)
    contact, _ = await Contact.get_or_create(channel=channel, address=hashed)
    if contact.opted_out != opted_out:
        contact.opted_out = opted_out
        await contact.save(update_fields=["opted_out", "updated_at"])
        await ConsentRow.create(
            channel=channel,
            address_hash=hashed,
            action=OPT_OUT if opted_out else OPT_IN,
            method=method,
            at=now or datetime.now(UTC),
        )


async def opted_out(channel: str, addresses: Collection[str]) -> set[str]:
    """Which of `addresses` asked not to be written to on `channel`."""
    if not addresses:
        return set()
    by_hash = {address_hash(channel, a): a for a in addresses}
    # Plain SQL: asked on every claim that found messages, where the ORM's query builder
    # cost more than the query.
    rows = await command_sql.returning(
        connections.get("default"),
        f"SELECT address FROM contacts WHERE channel = ? AND opted_out"
        f" AND address IN ({', '.join('?' * len(by_hash))})",
        [channel, *by_hash],
    )
    return {by_hash[row["address"]] for row in rows}
