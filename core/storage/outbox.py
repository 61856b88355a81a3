"""The outbox table as a work queue: claim due rows, then record what became of each; and
the outbox's other reads and writes (replies, acknowledgements, the call ladder's, a ticket's
messages).

A claim marks rows `sending` with a lease and a token; the holder renews the lease while it
still holds them (waiting for their turn or being sent), so the lease can be short. A
dispatcher that dies holding rows loses them when the lease runs out, and another claims
them again. Results are recorded
only by the token's holder, so a dispatcher that was presumed dead cannot overwrite a
newer attempt.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from core.domain.freshness import FRESHNESS, Freshness
from core.domain.ladder import Rung, ladder_from
from core.domain.model import TicketStatus
from core.domain.notify import DeliveryStatus
from core.storage import command_sql
from core.storage.models import OutboxMessage, QueueConfigRow, TicketRow

CALL_KINDS = ("called", "recalled")
"""The messages of a call: the call ladder follows them up, "I'm on my way" answers them."""


async def claim(
    channel: str, now: datetime, limit: int, lease_s: float, urgent_only: bool = False
) -> list[OutboxMessage]:
    """Due rows of one channel, "called" first; `SKIP LOCKED` keeps dispatchers apart.

    A row is taken only when no earlier-decided message (`seq`) to the same recipient on
    the channel is still queued or being sent, wherever it was claimed: so a recipient's
    messages go out in the order they were decided, across processes, one at a time.
    (Superseded ones no longer block: `supersede_stale` runs before the claim.)

    One statement, no transaction of its own: every command wakes the dispatcher, whose
    claim of a select and an update in a transaction cost four round trips and two ORM
    queries built each time, most often to find nothing."""
    if limit <= 0:
        return []
    conn = connections.get("default")
    skip_locked = " FOR UPDATE SKIP LOCKED" if command_sql.is_postgres(conn) else ""
    urgent = " AND o.urgent" if urgent_only else ""
    token = str(uuid.uuid4())
    until = now + timedelta(seconds=lease_s)
    rows = await command_sql.returning(
        conn,
        "UPDATE outbox SET status = ?, claim_token = ?, claimed_until = ?,"
        " attempts = attempts + 1 WHERE id IN (SELECT o.id FROM outbox o WHERE o.channel = ?"
        " AND ((o.status = ? AND o.next_attempt_at <= ?) OR (o.status = ? AND o.claimed_until < ?))"
        f"{urgent} AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.recipient = o.recipient"
        " AND e.channel = o.channel AND e.seq < o.seq AND e.status IN (?, ?))"
        f" ORDER BY o.urgent DESC, o.seq LIMIT ?{skip_locked}) RETURNING *",
        [
            DeliveryStatus.SENDING.value,
            token,
            until,
            channel,
            DeliveryStatus.QUEUED.value,
            now,
            DeliveryStatus.SENDING.value,
            now,
            DeliveryStatus.QUEUED.value,
            DeliveryStatus.SENDING.value,
            limit,
        ],
    )
    claimed = [OutboxMessage._init_from_db(**row) for row in rows]
    return sorted(claimed, key=lambda row: (not row.urgent, row.seq or 0))


def _literal(value: str) -> str:
    """A kind or status from the domain's own enums, inlined in the rule's SQL (made once)."""
    if not value.replace("_", "").isalnum():
        raise ValueError(f"not a plain name: {value!r}")
    return f"'{value}'"


def _names(values: Collection[str]) -> str:
    return ", ".join(_literal(v) for v in sorted(values))


@functools.cache
def stale_sql(alias: str = "o") -> str:
    """`core.domain.freshness.FRESHNESS` as a condition on the outbox row `alias`: true when
    the row no longer tells the truth. Kinds that share a rule share a clause."""
    by_rule: dict[Freshness, list[str]] = {}
    for kind, rule in FRESHNESS.items():
        by_rule.setdefault(rule, []).append(kind)
    clauses = []
    for rule, kinds in by_rule.items():
        reasons = [
            f"(SELECT t.status FROM tickets t WHERE t.id = {alias}.ticket_id)"
            f" NOT IN ({_names(rule.true_while)})"
        ]
        if rule.replaced_by:
            reasons.append(
                f"EXISTS (SELECT 1 FROM outbox n WHERE n.ticket_id = {alias}.ticket_id"
                f" AND n.channel = {alias}.channel AND n.seq > {alias}.seq"
                f" AND n.kind IN ({_names(rule.replaced_by)}))"
            )
        clauses.append(f"({alias}.kind IN ({_names(kinds)}) AND ({' OR '.join(reasons)}))")
    return f"({alias}.ticket_id IS NOT NULL AND ({' OR '.join(clauses)}))"


SUPERSEDED_AT_CLAIM = "superseded: no longer true when its turn came"


async def supersede_stale(
    channel: str, now: datetime, waiting: Collection[OutboxMessage] = ()
) -> set[str]:
    """Marks `superseded` every message of the channel waiting to be sent that no longer
    tells the truth: queued, held under a lease that ran out, or among `waiting` (rows the
    caller claimed and has not begun to send, while its claim holds); returns their ids.
    One statement, before each claim: stale messages are never claimed, and no longer hold
    back the messages after them to the same recipient (a "called" is not kept waiting
    behind its own patient's "joined" still in a dispatcher's lane)."""
    conn = connections.get("default")
    ids = [row.id for row in waiting]
    tokens = sorted({row.claim_token for row in waiting if row.claim_token is not None})
    ours = (
        f" OR (o.status = ? AND o.id IN ({_marks(ids)}) AND o.claim_token IN ({_marks(tokens)}))"
        if ids and tokens
        else ""
    )
    superseded = await command_sql.returning(
        conn,
        "UPDATE outbox SET status = ?, last_error = ?, claim_token = NULL, claimed_until = NULL"
        " WHERE id IN (SELECT o.id FROM outbox o WHERE o.channel = ?"
        f" AND (o.status = ? OR (o.status = ? AND o.claimed_until < ?){ours})"
        f" AND {stale_sql()}) RETURNING id",
        [
            DeliveryStatus.SUPERSEDED.value,
            SUPERSEDED_AT_CLAIM,
            channel,
            DeliveryStatus.QUEUED.value,
            DeliveryStatus.SENDING.value,
            now,
            *([DeliveryStatus.SENDING.value, *ids, *tokens] if ours else []),
        ],
    )
    return {row["id"] for row in superseded}


@dataclass(frozen=True)
class Standing:
    """What the last look before a send found: whether the claim still holds, the ticket's
    status now and the kinds of the newer messages about it on the same channel."""

    held: bool
    ticket_status: str | None
    newer_kinds: frozenset[str]


async def standing(row: OutboxMessage) -> Standing:
    """One indexed read, just before the send: a call can land after the claim."""
    conn = connections.get("default")
    found = await command_sql.returning(
        conn,
        "SELECT o.claim_token AS token, t.status AS ticket_status, n.kind AS newer_kind"
        " FROM outbox o LEFT JOIN tickets t ON t.id = o.ticket_id"
        " LEFT JOIN outbox n ON n.ticket_id = o.ticket_id AND n.channel = o.channel"
        " AND n.seq > o.seq WHERE o.id = ?",
        [row.id],
    )
    if not found:
        return Standing(False, None, frozenset())
    return Standing(
        held=found[0]["token"] == row.claim_token,
        ticket_status=found[0]["ticket_status"],
        newer_kinds=frozenset(r["newer_kind"] for r in found if r["newer_kind"] is not None),
    )


async def renew(rows: Collection[OutboxMessage], now: datetime, lease_s: float) -> set[str]:
    """Extends the lease of the rows this dispatcher still holds (being sent, or waiting
    for their turn); returns the ids renewed. A row whose claim was lost (its lease ran out
    and another dispatcher took it, or its result is recorded) is left alone: its token
    no longer matches."""
    if not rows:
        return set()
    conn = connections.get("default")
    ids = [row.id for row in rows]
    tokens = sorted({row.claim_token for row in rows if row.claim_token is not None})
    if not tokens:
        return set()
    renewed = await command_sql.returning(
        conn,
        f"UPDATE outbox SET claimed_until = ? WHERE status = ? AND id IN ({_marks(ids)})"
        f" AND claim_token IN ({_marks(tokens)}) RETURNING id",
        [now + timedelta(seconds=lease_s), DeliveryStatus.SENDING.value, *ids, *tokens],
    )
    return {r["id"] for r in renewed}


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" for _ in values)


PROVIDER_STATUS_RANK = {
    "accepted": 0,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
    "read": 6,
    # Twilio's voice calls: queued (above), initiated, ringing, then either answered
    # (in-progress, completed) or not (busy, no-answer, failed or canceled, above: final).
    "initiated": 3,
    "ringing": 4,
    "in-progress": 5,
    "busy": 5,
    "no-answer": 5,
    "completed": 6,
}
"""How far along a message (or voice call) the provider reports is; callbacks arrive out of
order and twice, so a state only ever replaces one of a lower rank (of the final states,
the first reported stays)."""


async def mark_sent(
    row: OutboxMessage,
    now: datetime,
    provider_message_id: str | None,
    delivered_to: str,
    segments: int | None,
) -> bool:
    """False when the claim was lost meanwhile (the lease ran out and another took it)."""
    return await _finish(
        row,
        status=DeliveryStatus.SENT,
        sent_at=now,
        provider_message_id=provider_message_id,
        delivered_to=delivered_to,
        segments=segments,
        last_error=None,
    )


async def record_provider_status(
    outbox_id: str,
    provider_message_id: str | None,
    status: str,
    error_code: str | None = None,
    error: str | None = None,
) -> bool:
    """Moves a message's provider status forward; False when it was not a step forward
    (a late or repeated callback), or the message is not ours."""
    rank = PROVIDER_STATUS_RANK.get(status)
    if rank is None:
        return False
    earlier = [s for s, r in PROVIDER_STATUS_RANK.items() if r < rank]
    values: dict[str, object] = {"provider_status": status, "provider_error_code": error_code}
    if error is not None:
        values["last_error"] = error
    # The provider's id is not recorded yet when its callback beats the send's answer.
    same_message = Q(provider_message_id=provider_message_id) | Q(provider_message_id=None)
    updated = await (
        OutboxMessage.filter(same_message, id=outbox_id)
        .filter(Q(provider_status__in=earlier) | Q(provider_status=None))
        .update(**values)
    )
    return updated == 1


async def record_reply(
    ticket_id: str | None,
    channel: str,
    recipient: str,
    kind: str,
    text: str,
    now: datetime,
    segments: int | None = None,
) -> OutboxMessage:
    """A reply given in the answer to a patient's message (TwiML) rather than sent from
    here: recorded so that the visit's record, and its cost, are complete."""
    row_id = str(uuid.uuid4())
    return await OutboxMessage.create(
        id=row_id,
        idempotency_key=f"reply:{row_id}",
        ticket_id=ticket_id,
        channel=channel,
        recipient=recipient,
        kind=kind,
        payload={"text": text},
        status=DeliveryStatus.SENT,
        attempts=1,
        next_attempt_at=now,
        created_at=now,
        sent_at=now,
        delivered_to=channel,
        segments=segments,
    )


async def retry_later(row: OutboxMessage, at: datetime, error: str) -> bool:
    return await _finish(row, status=DeliveryStatus.QUEUED, next_attempt_at=at, last_error=error)


async def mark_failed(row: OutboxMessage, error: str) -> bool:
    return await _finish(row, status=DeliveryStatus.FAILED, last_error=error)


async def mark_superseded(row: OutboxMessage, reason: str) -> bool:
    """Not sent, on purpose: it no longer told the truth just before its send."""
    return await _finish(row, status=DeliveryStatus.SUPERSEDED, last_error=reason)


async def mark_suppressed(row: OutboxMessage, reason: str) -> bool:
    """Not sent, on purpose: the patient asked not to be written to on this channel."""
    return await _finish(row, status=DeliveryStatus.SUPPRESSED, last_error=reason)


async def _finish(row: OutboxMessage, **values: object) -> bool:
    """Records what became of a claimed row, if the claim still holds. A statement of fixed
    text (once per send: the ORM's query builder cost more than the round trip)."""
    columns = {
        name: value.value if isinstance(value, DeliveryStatus) else value
        for name, value in values.items()
    }
    assignments = "".join(f", {name} = ?" for name in columns)
    updated = await command_sql.write(
        connections.get("default"),
        f"UPDATE outbox SET claim_token = NULL, claimed_until = NULL{assignments}"
        " WHERE id = ? AND claim_token = ?",
        [*columns.values(), row.id, row.claim_token],
    )
    return updated == 1


async def acknowledge(ticket_id: str, now: datetime) -> None:
    """The patient answered the call: its "called" and "recalled" messages say so."""
    await OutboxMessage.filter(
        ticket_id=ticket_id, kind__in=list(CALL_KINDS), status=DeliveryStatus.SENT
    ).update(status=DeliveryStatus.ACKNOWLEDGED, acknowledged_at=now)


async def for_ticket(ticket_id: str) -> list[OutboxMessage]:
    return await OutboxMessage.filter(ticket_id=ticket_id).order_by("created_at", "seq")


async def for_tickets(ticket_ids: list[str]) -> list[OutboxMessage]:
    """Every message about these tickets, oldest first: one query for a whole board."""
    return await OutboxMessage.filter(ticket_id__in=ticket_ids).order_by("created_at", "seq")


@dataclass(frozen=True)
class OpenCall:
    """A ticket being called, what its queue's call ladder is, and every "called" and
    "recalled" message about it (the calls themselves and the ladder's steps)."""

    ticket: TicketRow
    ladder: tuple[Rung, ...]
    messages: list[OutboxMessage]


async def open_calls() -> list[OpenCall]:
    """Every ticket now called in a queue with a call ladder: three queries, however many
    there are. Every dispatcher asks every second, so the tickets are found by queue and
    status (their index), however long the tickets' history grows."""
    ladders = {
        row.queue_id: ladder_from(row.call_ladder)  # type: ignore[attr-defined]
        for row in await QueueConfigRow.all()
    }
    laddered = [queue_id for queue_id, ladder in ladders.items() if ladder]
    if not laddered:
        return []
    tickets = await TicketRow.filter(queue_id__in=laddered, status=TicketStatus.CALLED.value)
    if not tickets:
        return []
    messages: dict[str, list[OutboxMessage]] = {t.id: [] for t in tickets}
    for row in await OutboxMessage.filter(
        ticket_id__in=list(messages), kind__in=list(CALL_KINDS)
    ).order_by("created_at"):
        messages[row.ticket_id].append(row)  # type: ignore[attr-defined]
    return [
        OpenCall(t, ladders[t.queue_id], messages[t.id])  # type: ignore[attr-defined]
        for t in tickets
    ]


async def add_unless_present(message: OutboxMessage) -> bool:
    """Stores a new message; False when its idempotency key is taken (another process
    queued the same message a moment ago)."""
    try:
        await message.save(force_create=True)
    except IntegrityError:
        return False
    return True
