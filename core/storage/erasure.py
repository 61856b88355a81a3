"""Erasing a patient's personal data while keeping what the analytics read: the one
mechanism behind the retention purge and an erasure request.

A ticket keeps its queue, number, kind of visit, priority, times, status, rating and
counter; it loses its name, phone number, Telegram chat id and patient-page token (the
token becomes `purged.<id>`, which no patient page path can name). Its messages keep their
kind, channel, status, attempts, times, segments and the provider's delivery status; they
lose the recipient, the text and its parameters (the payload), the error text (which may
quote the number) and the provider's message id, and their idempotency key (which names
the recipient) becomes `purged:<id>`. What the dev inbox showed of them is deleted, and so
is the consent record of the visit. Audit rows hold no personal data and stay.

Each call is one short transaction over at most `BATCH` tickets: a command waiting on the
same rows waits for one batch, never for the whole purge.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core.domain.model import LIVE_STATUSES
from core.domain.notify import DeliveryStatus
from core.storage.models import (
    ConsentRow,
    Contact,
    DevInboxMessage,
    OutboxMessage,
    TicketRow,
)

BATCH = 100
"""Tickets (or stray rows) per transaction."""
LIVE = [s.value for s in LIVE_STATUSES]
PENDING = [DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value]
NOT_SENT = "not sent: the visit's personal data was erased"

Counts = Counter[str]


def _sql(conn: BaseDBAsyncClient, statement: str, count: int) -> str:
    """`statement` with `count` parameters in the connection's style (`?`, or `$n`)."""
    if conn.capabilities.dialect != "postgres":
        return statement
    marks = iter(f"${n}" for n in range(1, count + 1))
    return "".join(next(marks) if ch == "?" else ch for ch in statement)


async def _in(conn: BaseDBAsyncClient, statement: str, ids: Sequence[Any]) -> int:
    """Runs `statement`, whose `(?)` is a list of `ids`; returns the rows it changed."""
    marks = ", ".join("?" * len(ids))
    sql = _sql(conn, statement.replace("(?)", f"({marks})"), len(ids))
    return int((await conn.execute_query(sql, list(ids)))[0])


async def erase_tickets(
    ticket_ids: Sequence[str], now: datetime, keep_unsent: bool = False
) -> Counts:
    """Erases the personal data of these tickets and of their messages, in one transaction.
    Live tickets among them are left alone (a request cancels them first). A message still
    to be sent is erased and never sent, unless `keep_unsent` (a request, whose patient must
    get the "left" message of the cancellation): then it keeps its recipient until it is
    sent, and the next purge erases it (`sent_unerased_query`)."""
    counts: Counts = Counter()
    if not ticket_ids:
        return counts
    async with in_transaction() as conn:
        ids = await (
            TicketRow.filter(id__in=list(ticket_ids), purged_at__isnull=True)
            .exclude(status__in=LIVE)
            .using_db(conn)
            .values_list("id", flat=True)
        )
        if not ids:
            return counts
        # A new version: a process keeping the row (`TicketRowCache`) reads it again.
        counts["tickets"] = await (
            TicketRow.filter(id__in=ids)
            .using_db(conn)
            .update(
                name=None,
                phone=None,
                telegram_chat_id=None,
                purged_at=now,
                version=F("version") + 1,
            )
        )
        await _in(conn, "UPDATE tickets SET token = 'purged.' || id WHERE id IN (?)", ids)
        messages = OutboxMessage.filter(ticket_id__in=ids).using_db(conn)
        if keep_unsent:
            counts["unsent"] = await messages.filter(status__in=PENDING).count()
            messages = messages.exclude(status__in=PENDING)
        message_ids = await messages.values_list("id", flat=True)
        counts += await _erase_messages(conn, [str(m) for m in message_ids])
        # Erased, and so never sent: there is nobody to send them to any more.
        await messages.filter(status__in=PENDING).update(
            status=DeliveryStatus.FAILED.value,
            last_error=NOT_SENT,
            claim_token=None,
            claimed_until=None,
        )
        counts["consents"] = await ConsentRow.filter(ticket_id__in=ids).using_db(conn).delete()
    return counts


async def _erase_messages(conn: BaseDBAsyncClient, message_ids: list[str]) -> Counts:
    counts: Counts = Counter()
    for start in range(0, len(message_ids), BATCH):
        ids = message_ids[start : start + BATCH]
        counts["messages"] += await (
            OutboxMessage.filter(id__in=ids)
            .using_db(conn)
            .update(recipient="", payload={}, last_error=None, provider_message_id=None)
        )
        await _in(conn, "UPDATE outbox SET idempotency_key = 'purged:' || id WHERE id IN (?)", ids)
        counts["dev_inbox"] += (
            await DevInboxMessage.filter(outbox_id__in=ids).using_db(conn).delete()
        )
    return counts


async def erase_messages(message_ids: Sequence[str]) -> Counts:
    """Messages with no ticket (answers to texts that joined nothing), in one transaction."""
    async with in_transaction() as conn:
        return await _erase_messages(conn, list(message_ids))


async def delete_dev_inbox(row_ids: Sequence[int]) -> int:
    return await DevInboxMessage.filter(id__in=list(row_ids)).delete()


async def delete_consents(row_ids: Sequence[int]) -> int:
    return await ConsentRow.filter(id__in=list(row_ids)).delete()


async def forget_contacts(row_ids: Sequence[int]) -> Counts:
    """A contact that opted out keeps its hash and its opt-out, nothing else; the others go."""
    counts: Counts = Counter()
    async with in_transaction() as conn:
        counts["contacts"] = (
            await Contact.filter(id__in=list(row_ids), opted_out=False).using_db(conn).delete()
        )
        await (
            Contact.filter(id__in=list(row_ids), opted_out=True)
            .using_db(conn)
            .update(language=None)
        )
    return counts


def sent_unerased_query() -> Any:
    """Messages of erased tickets that still name someone: those that were still to be
    sent when their ticket was erased, once they are sent (or given up)."""
    return (
        OutboxMessage.filter(ticket__purged_at__isnull=False)
        .exclude(recipient="")
        .exclude(status__in=PENDING)
    )


def stray_messages_query(**filters: Any) -> Any:
    """Messages with no ticket that still name someone."""
    return OutboxMessage.filter(ticket_id__isnull=True, **filters).exclude(recipient="")
