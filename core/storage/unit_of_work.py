"""The stored side of one command's transaction: lock the queues, load them, then write
what changed.

Tickets, their audit events, the outbox rows for the notifications they cause and the
hourly metrics are all written in the same transaction, so they stand or fall together.
What the patients are told was decided before (`core.domain.settle`); this only writes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from core.domain import arrivals, eta
from core.domain.events import (
    PositionChanged,
    QueuePaused,
    QueueResumed,
    TicketEvent,
    TicketJoined,
    TicketStateChanged,
)
from core.domain.hourly import HourlyTally, hour_of
from core.domain.model import Counter, Pause, Ticket, TicketStatus, shown_queue_name
from core.domain.notify import DeliveryStatus, patient_channel
from core.domain.queue import Queue
from core.domain.settle import SettledEvent
from core.storage import command_sql
from core.storage.errors import ConcurrentUpdate, NotFound
from core.storage.mapping import (
    config_from_row,
    stored_ticket_values,
    ticket_columns,
    ticket_from_values,
)
from core.storage.models import (
    OutboxMessage,
    QueueEventRow,
    QueueRow,
    TicketEventRow,
    TicketRow,
)
from core.storage.pseudonyms import address_hash

TicketValues = tuple[Any, ...]
"""A ticket row as `command_sql.TICKET_SELECT` lists it: id, stored fields, version."""


class TicketRowCache:
    """The rows of each queue's live tickets as this process last loaded or wrote them, by
    queue id and ticket id, so a load reads only ids and versions and the rows whose
    version moved on. Every write to a ticket gives it a new version, so a row at the
    stored version is the stored row. Rows are immutable tuples: every command still makes
    tickets of its own from them."""

    def __init__(self) -> None:
        self._rows: dict[int, dict[str, TicketValues]] = {}

    def rows(self, queue_id: int) -> dict[str, TicketValues]:
        return self._rows.get(queue_id, {})

    def keep(self, queue_id: int, rows: dict[str, TicketValues]) -> None:
        """The queue's rows as just loaded: those of tickets no longer live go."""
        self._rows[queue_id] = rows

    def put(self, queue_id: int, row: TicketValues) -> None:
        """A row as written by a committed command."""
        self._rows.setdefault(queue_id, {})[row[0]] = row


class TortoiseQueueUnitOfWork:
    """`QueueUnitOfWork` on one tortoise connection (a transaction's, or the default one
    for reads)."""

    def __init__(self, conn: BaseDBAsyncClient, now: datetime, cache: TicketRowCache) -> None:
        self.conn = conn
        self.now = now
        self.cache = cache
        self._written: list[tuple[int, TicketValues]] = []
        """Rows this unit of work wrote, for the cache once they are committed."""
        self._counter_rows: dict[str, list[tuple[int, str, bool]]] = {}
        self._queue_rows: dict[str, QueueRow] = {}
        self._loaded: dict[str, tuple[str, tuple[Any, ...], int]] = {}
        """Ticket id -> its queue, its stored fields' values as loaded, and its version."""

    async def load(
        self, code: str, extra_ticket_ids: Iterable[str] = (), lock: bool = True
    ) -> Queue:
        """Locks the queue row until commit, so commands on one queue never interleave."""
        found = await command_sql.queue_rows(self.conn, code, lock)
        if found is None:
            raise NotFound("queue", code)
        row, config = found
        counters = await command_sql.counter_rows(self.conn, row.id)
        rows = await self._ticket_rows(row.id, list(dict.fromkeys(extra_ticket_ids)))
        tickets = {}
        for stored in rows.values():
            # Sliced, not unpacked: a tuple at once rather than a list copied into one.
            ticket_id, values, version = stored[0], stored[1:-1], stored[-1]
            tickets[ticket_id] = ticket_from_values(code, ticket_id, values)
            self._loaded[ticket_id] = (code, values, version)
        self._counter_rows[code] = counters
        self._queue_rows[code] = row
        return Queue(
            code=row.code,
            prefix=row.prefix,
            config=config_from_row(config),
            counters={name: Counter(name, is_open) for _, name, is_open in counters},
            tickets=tickets,
            day_seq=row.day_seq,
            day_seq_date=row.day_seq_date,
            pause=_pause_of(row),
        )

    async def claim_reevaluation(self, code: str, since: datetime | None) -> bool:
        """Stamps the queue re-evaluated now, locking its row, if nobody did since `since`."""
        return await command_sql.claim_reevaluation(self.conn, code, since, self.now)

    async def _ticket_rows(self, queue_id: int, extra_ids: list[str]) -> dict[str, TicketValues]:
        versions = await command_sql.ticket_versions(self.conn, queue_id, extra_ids)
        known = self.cache.rows(queue_id)
        stale = {i for i, version in versions if i not in known or known[i][-1] != version}
        fetched = {r[0]: r for r in await command_sql.ticket_rows(self.conn, list(stale))}
        rows = {
            i: fetched[i] if i in stale else known[i]
            for i, _ in versions
            if i in fetched or i not in stale
        }
        self.cache.keep(queue_id, rows)
        return rows

    def committed(self) -> None:
        """The transaction committed: what it wrote is what is stored."""
        for queue_id, row in self._written:
            self.cache.put(queue_id, row)

    async def service_samples(self, code: str, since: datetime) -> dict[str, eta.ServiceSample]:
        """The visits of the queue completed since `since`, by ticket id, which its service
        times are learned from."""
        rows = (
            await TicketRow.filter(
                queue__code=code,
                status=TicketStatus.DONE.value,
                finished_at__gte=since,
                called_at__isnull=False,
            )
            .using_db(self.conn)
            .values_list("id", "called_at", "finished_at", "service")
        )
        return {
            ticket_id: eta.ServiceSample(done, (done - called).total_seconds(), kind)
            for ticket_id, called, done, kind in rows
        }

    async def join_samples(self, code: str, since: datetime) -> dict[str, arrivals.JoinSample]:
        """The joins of the queue since `since`, by ticket id (arrival rates)."""
        rows = (
            await TicketRow.filter(queue__code=code, joined_at__gte=since)
            .using_db(self.conn)
            .values_list("id", "joined_at", "service", "priority", "appointment_at")
        )
        return {
            ticket_id: arrivals.join_sample(joined, kind, priority, appointment)
            for ticket_id, joined, kind, priority, appointment in rows
        }

    async def save(self, queues: Mapping[str, Queue], settled: Sequence[SettledEvent]) -> None:
        """Writes every change of the loaded `queues` and the settled events of the command."""
        events = [s.event for s in settled]
        tickets = {t.id: t for q in queues.values() for t in q.tickets.values()}
        await self._save_tickets(tickets)
        await self._save_events(settled)
        for code, queue in queues.items():
            row = self._queue_rows[code]
            if (row.day_seq, row.day_seq_date) != (queue.day_seq, queue.day_seq_date):
                row.day_seq, row.day_seq_date = queue.day_seq, queue.day_seq_date
                await row.save(using_db=self.conn, update_fields=["day_seq", "day_seq_date"])
            if _pause_of(row) != queue.pause:
                await self._save_pause(row, queue.pause)
            tally = HourlyTally(hour_of(self.now))
            tally.add([e for e in events if e.queue == code], queue)
            await command_sql.add_to_hourly(self.conn, row.id, tally)
            for counter_id, name, was_open in self._counter_rows[code]:
                is_open = queue.counters[name].is_open
                if was_open != is_open:  # calling from a closed counter opens it
                    await command_sql.set_counter_open(self.conn, counter_id, is_open)

    async def _save_pause(self, row: QueueRow, pause: Pause | None) -> None:
        row.paused_at = pause.at if pause else None
        row.paused_by = pause.by if pause else None
        row.pause_message = pause.message if pause else None
        await row.save(
            using_db=self.conn, update_fields=["paused_at", "paused_by", "pause_message"]
        )

    async def _save_tickets(self, tickets: dict[str, Ticket]) -> None:
        created: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        loaded_tickets = self._loaded
        for ticket in tickets.values():
            loaded = loaded_tickets.get(ticket.id)
            after = stored_ticket_values(ticket)
            # Most of a long line is unchanged by a command: passed over before anything else.
            if loaded is not None and after == loaded[1] and ticket.queue == loaded[0]:
                continue
            queue_id = self._queue_rows[ticket.queue].id
            if loaded is None:
                created.setdefault(queue_id, []).append((ticket.id, ticket_columns(ticket)))
                self._written.append((queue_id, (ticket.id, *after, 0)))
                continue
            version = loaded[2]
            self._written.append((queue_id, (ticket.id, *after, version + 1)))
            columns = ticket_columns(ticket)
            if not await command_sql.update_ticket(
                self.conn, ticket.id, version, queue_id, columns
            ):
                raise ConcurrentUpdate()
        for queue_id, new in created.items():
            await command_sql.insert_tickets(self.conn, queue_id, new)

    async def _save_events(self, settled: Sequence[SettledEvent]) -> None:
        """The audit rows and the outbox rows, as tuples in raw INSERTs: an ORM object per
        row cost more than the statements themselves."""
        audit: list[tuple[Any, ...]] = []
        outbox: list[tuple[Any, ...]] = []
        consents: list[tuple[Any, ...]] = []
        for seq, item in enumerate(settled):
            event, ticket = item.event, item.ticket
            if isinstance(event, QueuePaused | QueueResumed):
                data = {"message": event.message} if isinstance(event, QueuePaused) else {}
                await QueueEventRow.create(
                    queue_code=event.queue,
                    type=event.type_name(),
                    actor=event.actor,
                    at=event.at,
                    data=data,
                    using_db=self.conn,
                )
            if not isinstance(event, TicketEvent):
                continue
            event_id = str(uuid.uuid4())
            audit.append(audit_values(event_id, event, seq))
            if ticket is None:
                continue
            row = self._queue_rows[event.queue]
            if isinstance(event, TicketJoined) and event.consent:
                consents.extend(consent_values(ticket, event.consent, event.at))
            for intent in item.intents:
                payload = intent.params | {
                    "queue_name": shown_queue_name(row.code, row.public_name),
                    "token": ticket.token,
                }
                outbox.append(
                    (
                        str(uuid.uuid4()),
                        f"{event_id}:{intent.channel}:{intent.recipient}",
                        ticket.id,
                        event_id,
                        intent.channel.value,
                        intent.recipient,
                        intent.kind.value,
                        _json(OutboxMessage, "payload", payload),
                        intent.urgent,
                        DeliveryStatus.QUEUED.value,
                        0,
                        self.now,
                        self.now,
                    )
                )
        if audit:
            await command_sql.insert_rows(self.conn, "ticket_events", AUDIT_COLUMNS, audit)
        if consents:
            await command_sql.insert_rows(self.conn, "consents", CONSENT_COLUMNS, consents)
        if outbox:
            await command_sql.insert_rows(self.conn, "outbox", OUTBOX_COLUMNS, outbox)


AUDIT_COLUMNS = (
    "id",
    "ticket_id",
    "queue_code",
    "type",
    "actor",
    "at",
    "seq",
    "counter",
    "data",
    "from_status",
    "to_status",
    "old_position",
    "new_position",
)
OUTBOX_COLUMNS = (
    "id",
    "idempotency_key",
    "ticket_id",
    "event_id",
    "channel",
    "recipient",
    "kind",
    "payload",
    "urgent",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
"""The columns a new outbox row sets; the others (a delivery's outcome) start empty."""


def _pause_of(row: QueueRow) -> Pause | None:
    if row.paused_at is None:
        return None
    return Pause(row.paused_at, row.paused_by or "", row.pause_message)


def _json(model: type[Model], name: str, value: Any) -> Any:
    """`value` as the model's JSON field stores it."""
    return model._meta.fields_map[name].to_db_value(value, model)


def audit_values(event_id: str, event: TicketEvent, seq: int) -> tuple[Any, ...]:
    """The audit row of `event`, in `AUDIT_COLUMNS` order."""
    data = event.to_dict()["data"]
    from_status = to_status = old_position = new_position = None
    if isinstance(event, TicketStateChanged):
        from_status = event.from_status.value if event.from_status else None
        to_status = event.to_status.value
        new_position = data.get("position")
    if isinstance(event, PositionChanged):
        old_position, new_position = event.old_position, event.new_position
    return (
        event_id,
        event.ticket_id,
        event.queue,
        event.type_name(),
        event.actor,
        event.at,
        seq,
        data.get("counter"),
        _json(
            TicketEventRow,
            "data",
            {k: v for k, v in data.items() if k not in ("queue", "at", "actor", "ticket_id")},
        ),
        from_status,
        to_status,
        old_position,
        new_position,
    )


CONSENT_COLUMNS = ("ticket_id", "channel", "address_hash", "action", "method", "at")


def consent_values(ticket: Ticket, method: str, at: datetime) -> list[tuple[Any, ...]]:
    """The consent record's row of a join: how the patient asked to be messaged, on the
    channel they will be messaged on (none: nobody to message, nothing to record)."""
    channel = patient_channel(ticket)
    if channel is None:
        return []
    name, address = channel[0].value, channel[1]
    return [(ticket.id, name, address_hash(name, address), "consent", method, at)]
