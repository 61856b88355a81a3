"""In-memory stand-ins for what the dispatcher is given: the outbox table, the contact book
and a channel's sender. They keep what happened for the test to read."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.delivery import Outgoing, Receipt
from core.domain.freshness import still_true
from core.domain.ladder import DEFAULT_CALL_LADDER, Rung
from core.storage.models import OutboxMessage, TicketRow
from core.storage.outbox import CALL_KINDS, OpenCall, Standing

DECIDED = itertools.count(1)
"""The order rows are decided in (`seq`, which the database gives)."""


def outbox_row(
    recipient: str,
    at: datetime,
    *,
    kind: str = "called",
    urgent: bool = False,
    channel: str = "sms",
    attempts: int = 0,
    payload: dict[str, object] | None = None,
    ticket_id: str | None = None,
) -> OutboxMessage:
    """A queued message, due at `at`, with what an SMS of its kind needs to render."""
    row = OutboxMessage(
        id=str(uuid.uuid4()),
        idempotency_key=str(uuid.uuid4()),
        channel=channel,
        recipient=recipient,
        kind=kind,
        payload={"queue_name": "Pharmacy", "number": "P-001", "counter": "1"}
        if payload is None
        else payload,
        urgent=urgent,
        attempts=attempts,
        next_attempt_at=at,
        created_at=at,
        seq=next(DECIDED),
    )
    row.ticket_id = ticket_id  # the constructor takes the relation, not its id
    return row


def ticket_of(row: OutboxMessage) -> str | None:
    ticket_id: str | None = getattr(row, "ticket_id", None)
    return ticket_id


def unsent(row: OutboxMessage) -> bool:
    return row.status in ("queued", "sending")


def due(row: OutboxMessage, now: datetime) -> bool:
    """Queued and its time has come, or claimed by a dispatcher whose lease ran out."""
    if row.status == "queued":
        return bool(row.next_attempt_at <= now)
    lease_over = row.claimed_until is not None and row.claimed_until < now
    return row.status == "sending" and lease_over


@dataclass(frozen=True)
class Result:
    """What the dispatcher recorded about one message."""

    outcome: str
    """`sent`, `queued` (to retry), `failed`, `suppressed` or `superseded`."""
    row_id: str
    error: str | None = None
    retry_at: datetime | None = None
    provider_message_id: str | None = None


class FakeOutbox:
    """The outbox table as `core.storage.outbox` keeps it, in a dict: due rows are claimed
    "called" first and leased, one at a time per recipient in the order decided; results
    are recorded only while the claim holds; stale rows are superseded by the domain's
    rule, with the tickets' statuses in `ticket_statuses`."""

    def __init__(self) -> None:
        self.rows: dict[str, OutboxMessage] = {}
        self.results: list[Result] = []
        self.provider_statuses: list[tuple[str, str | None, str]] = []
        self.claims: list[tuple[str, int, bool]] = []
        """(channel, limit, urgent_only) of every claim asked for."""
        self.lost_claims: set[str] = set()
        """Rows whose lease another dispatcher took meanwhile: their results are refused."""
        self.called: list[TicketRow] = []
        """Tickets being called, for the call ladder."""
        self.ladder: tuple[Rung, ...] = DEFAULT_CALL_LADDER
        self.open_call_reads = 0
        self.ticket_statuses: dict[str, str] = {}
        self.renewals: list[set[str]] = []
        """The ids renewed, each time the dispatcher renewed its claims."""
        self._recorded = asyncio.Condition()

    async def claim(
        self, channel: str, now: datetime, limit: int, lease_s: float, urgent_only: bool = False
    ) -> list[OutboxMessage]:
        self.claims.append((channel, limit, urgent_only))
        if limit <= 0:
            return []
        claimable = [
            row
            for row in self.rows.values()
            if row.channel == channel
            and (row.urgent or not urgent_only)
            and due(row, now)
            and not self._earlier_unsent(row)
        ]
        claimable.sort(key=lambda row: (not row.urgent, row.seq))
        token = str(uuid.uuid4())
        for row in claimable[:limit]:
            row.status, row.claim_token = "sending", token
            row.claimed_until = now + timedelta(seconds=lease_s)
            row.attempts += 1
        return claimable[:limit]

    def _earlier_unsent(self, row: OutboxMessage) -> bool:
        return any(
            unsent(other) and other.seq < row.seq
            for other in self.rows.values()
            if (other.channel, other.recipient) == (row.channel, row.recipient)
        )

    def _newer_kinds(self, row: OutboxMessage) -> frozenset[str]:
        return frozenset(
            other.kind
            for other in self.rows.values()
            if ticket_of(row) is not None
            and (ticket_of(other), other.channel) == (ticket_of(row), row.channel)
            and other.seq > row.seq
        )

    def _stale(self, row: OutboxMessage) -> bool:
        status = self.ticket_statuses.get(ticket_of(row) or "")
        return not still_true(row.kind, status, self._newer_kinds(row))

    async def supersede_stale(
        self, channel: str, now: datetime, waiting: Collection[OutboxMessage] = ()
    ) -> set[str]:
        ours = {row.id: row.claim_token for row in waiting}
        stale = [
            row
            for row in self.rows.values()
            if row.channel == channel
            and (
                row.status == "queued"
                or (row.status == "sending" and due(row, now))
                or (row.status == "sending" and ours.get(row.id, "") == row.claim_token)
            )
            and self._stale(row)
        ]
        for row in stale:
            row.status, row.claim_token, row.claimed_until = "superseded", None, None
            self.results.append(Result("superseded", row.id, "at the claim"))
        return {row.id for row in stale}

    async def standing(self, row: OutboxMessage) -> Standing:
        stored = self.rows[row.id]
        held = stored.claim_token == row.claim_token and row.id not in self.lost_claims
        status = self.ticket_statuses.get(ticket_of(row) or "")
        return Standing(held, status, self._newer_kinds(row))

    async def renew(
        self, rows: Collection[OutboxMessage], now: datetime, lease_s: float
    ) -> set[str]:
        renewed = set()
        for row in rows:
            stored = self.rows[row.id]
            held = stored.status == "sending" and stored.claim_token == row.claim_token
            if held and row.id not in self.lost_claims:
                stored.claimed_until = now + timedelta(seconds=lease_s)
                renewed.add(row.id)
        self.renewals.append(renewed)
        return renewed

    async def mark_sent(
        self,
        row: OutboxMessage,
        now: datetime,
        provider_message_id: str | None,
        delivered_to: str,
        segments: int | None,
    ) -> bool:
        return await self._finish(Result("sent", row.id, provider_message_id=provider_message_id))

    async def record_provider_status(
        self, outbox_id: str, provider_message_id: str | None, status: str
    ) -> bool:
        self.provider_statuses.append((outbox_id, provider_message_id, status))
        return True

    async def retry_later(self, row: OutboxMessage, at: datetime, error: str) -> bool:
        return await self._finish(Result("queued", row.id, error, retry_at=at))

    async def mark_failed(self, row: OutboxMessage, error: str) -> bool:
        return await self._finish(Result("failed", row.id, error))

    async def mark_suppressed(self, row: OutboxMessage, reason: str) -> bool:
        return await self._finish(Result("suppressed", row.id, reason))

    async def mark_superseded(self, row: OutboxMessage, reason: str) -> bool:
        return await self._finish(Result("superseded", row.id, reason))

    async def _finish(self, result: Result) -> bool:
        if result.row_id in self.lost_claims:
            return False
        row = self.rows[result.row_id]
        row.status, row.claim_token, row.claimed_until = result.outcome, None, None
        if result.retry_at is not None:
            row.next_attempt_at = result.retry_at
        async with self._recorded:
            self.results.append(result)
            self._recorded.notify_all()
        return True

    async def open_calls(self) -> list[OpenCall]:
        self.open_call_reads += 1
        calls = []
        for ticket in self.called:
            # A model made outside a running ORM drops the foreign key it is given (the
            # ladder's rows), so a ticket's rows are also told by their event.
            events = {r.event_id for r in self.rows.values() if ticket_of(r) == ticket.id}
            messages = [
                r for r in self.rows.values() if r.event_id in events and r.kind in CALL_KINDS
            ]
            messages.sort(key=lambda r: r.created_at)
            calls.append(OpenCall(ticket, self.ladder, messages))
        return calls

    async def add_unless_present(self, message: OutboxMessage) -> bool:
        if any(r.idempotency_key == message.idempotency_key for r in self.rows.values()):
            return False
        self.rows[message.id] = message
        return True

    async def wait_for_results(self, count: int) -> list[Result]:
        async with self._recorded:
            await self._recorded.wait_for(lambda: len(self.results) >= count)
        return self.results


@dataclass
class FakeContacts:
    """Who opted out, by (channel, address)."""

    opted_out_of: set[tuple[str, str]] = field(default_factory=set)

    async def opted_out(self, channel: str, addresses: Collection[str]) -> set[str]:
        return {a for a in addresses if (channel, a) in self.opted_out_of}

    async def set_opted_out(self, channel: str, address: str, opted_out: bool) -> None:
        if opted_out:
            self.opted_out_of.add((channel, address))
        else:
            self.opted_out_of.discard((channel, address))


@dataclass
class FakeSender:
    """Answers each send with the receipt, or raises the error, set for its recipient."""

    answers: dict[str, Receipt | Exception] = field(default_factory=dict)
    sent: list[Outgoing] = field(default_factory=list)

    async def send(self, message: Outgoing) -> Receipt:
        self.sent.append(message)
        answer = self.answers.get(message.recipient, Receipt(f"msg-{len(self.sent)}", "sms"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        return None
