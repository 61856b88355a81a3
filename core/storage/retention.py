"""What the retention purge has to erase (selected in batches), and the lease that lets one
process at a time run it.

Expired: a visit that ended before the cutoff (a ticket no longer live, finished before it;
one that never finished is dated by its join); a message with no ticket, a dev-inbox entry
and an opt-out or opt-in of the consent record made before it; a contact (a language
choice, under its keyed hash) not touched since, whose opt-out alone is kept.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery

from core.storage.erasure import LIVE, Counts, sent_unerased_query, stray_messages_query
from core.storage.models import (
    ConsentRow,
    Contact,
    DevInboxMessage,
    MaintenanceLease,
    OutboxMessage,
    TicketRow,
)


def _expired_tickets(cutoff: datetime) -> Any:
    ended = Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, joined_at__lt=cutoff)
    return TicketRow.filter(ended, purged_at__isnull=True).exclude(status__in=LIVE)


def _old_dev_inbox(cutoff: datetime) -> Any:
    return DevInboxMessage.filter(created_at__lt=cutoff)


def _old_history(cutoff: datetime) -> Any:
    """Opt-outs and opt-ins (the consent rows of no visit); the contact keeps the state."""
    return ConsentRow.filter(ticket_id__isnull=True, at__lt=cutoff)


def _stale_contacts(cutoff: datetime) -> Any:
    kept = Q(opted_out=True, language__isnull=True)
    return Contact.filter(updated_at__lt=cutoff).exclude(kept)


async def expired_ticket_ids(cutoff: datetime, limit: int) -> list[str]:
    query = _expired_tickets(cutoff).order_by("joined_at").limit(limit)
    return [str(i) for i in await query.values_list("id", flat=True)]


async def sent_unerased_ids(cutoff: datetime, limit: int) -> list[str]:
    """Whatever the cutoff: their ticket is erased already."""
    return [str(i) for i in await sent_unerased_query().limit(limit).values_list("id", flat=True)]


async def stray_message_ids(cutoff: datetime, limit: int) -> list[str]:
    query = stray_messages_query(created_at__lt=cutoff)
    return [str(i) for i in await query.limit(limit).values_list("id", flat=True)]


async def old_dev_inbox_ids(cutoff: datetime, limit: int) -> list[int]:
    return [int(i) for i in await _old_dev_inbox(cutoff).limit(limit).values_list("id", flat=True)]


async def old_history_ids(cutoff: datetime, limit: int) -> list[int]:
    return [int(i) for i in await _old_history(cutoff).limit(limit).values_list("id", flat=True)]


async def stale_contact_ids(cutoff: datetime, limit: int) -> list[int]:
    query = _stale_contacts(cutoff).limit(limit)
    return [int(i) for i in await query.values_list("id", flat=True)]


async def expired_counts(cutoff: datetime) -> Counts:
    """What a purge at `cutoff` would erase, per kind (a dry run)."""
    tickets = _expired_tickets(cutoff)
    ticket_ids = Subquery(_expired_tickets(cutoff).values("id"))
    messages = OutboxMessage.filter(ticket_id__in=ticket_ids)
    message_ids = Subquery(OutboxMessage.filter(ticket_id__in=ticket_ids).values("id"))
    counts: Counts = Counter(
        tickets=await tickets.count(),
        messages=await messages.count() + await stray_messages_query(created_at__lt=cutoff).count(),
        dev_inbox=await DevInboxMessage.filter(
            Q(created_at__lt=cutoff) | Q(outbox_id__in=message_ids)
        ).count(),
        consents=await ConsentRow.filter(
            Q(ticket_id__in=ticket_ids) | Q(ticket_id__isnull=True, at__lt=cutoff)
        ).count(),
        contacts=await _stale_contacts(cutoff).filter(opted_out=False).count(),
    )
    return +counts  # kinds with nothing to erase are left out


# -- the lease ---------------------------------------------------------------------------


async def take_lease(
    name: str, holder: str, now: datetime, hold_s: float, done_before: datetime | None = None
) -> bool:
    """Takes the job `name` for `hold_s` unless another process holds it; with
    `done_before`, only if it was last done before then (once a day: a day ago)."""
    with contextlib.suppress(IntegrityError):  # another process created it a moment ago
        await MaintenanceLease.get_or_create(name=name)
    free = Q(held_until__isnull=True) | Q(held_until__lt=now)
    query = MaintenanceLease.filter(free, name=name)
    if done_before is not None:
        query = query.filter(Q(last_done_at__isnull=True) | Q(last_done_at__lt=done_before))
    taken = await query.update(holder=holder, held_until=now + timedelta(seconds=hold_s))
    return bool(taken)


async def renew_lease(name: str, holder: str, now: datetime, hold_s: float) -> bool:
    """False: the lease ran out and another process has it now."""
    until = now + timedelta(seconds=hold_s)
    return bool(await MaintenanceLease.filter(name=name, holder=holder).update(held_until=until))


async def release_lease(name: str, holder: str, done_at: datetime | None) -> None:
    values: dict[str, Any] = {"holder": None, "held_until": None}
    if done_at is not None:
        values["last_done_at"] = done_at
    await MaintenanceLease.filter(name=name, holder=holder).update(**values)
