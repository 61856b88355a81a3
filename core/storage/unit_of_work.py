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

from core.domain import eta
from core.domain.events import DomainEvent, PositionChanged, TicketEvent, TicketStateChanged
from core.domain.hourly import HourlyTally, hour_of
from core.domain.model import LIVE_STATUSES, Ticket, TicketStatus
from core.domain.queue import Queue
from core.domain.settle import SettledEvent
from core.storage.errors import ConcurrentUpdate, NotFound
from core.storage.mapping import TICKET_FIELDS, queue_from_rows, ticket_columns
from core.storage.models import (
    CounterRow,
    HourlyMetric,
    OutboxMessage,
    QueueConfigRow,
    QueueRow,
    TicketEventRow,
    TicketRow,
)


class TortoiseQueueUnitOfWork:
    """`QueueUnitOfWork` on one tortoise connection (a transaction's, or the default one
    for reads)."""

    def __init__(self, conn: BaseDBAsyncClient, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self._counter_rows: dict[str, list[CounterRow]] = {}
        self._queue_rows: dict[str, QueueRow] = {}
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, int] = {}

    async def load(
        self, code: str, extra_ticket_ids: Iterable[str] = (), lock: bool = True
    ) -> Queue:
        """Locks the queue row until commit, so commands on one queue never interleave."""
        rows_of_queues = QueueRow.select_for_update() if lock else QueueRow.all()
        row = await rows_of_queues.using_db(self.conn).get_or_none(code=code)
        if row is None:
            raise NotFound("queue", code)
        config = await QueueConfigRow.get(queue_id=row.id, using_db=self.conn)
        counters = await CounterRow.filter(queue_id=row.id).using_db(self.conn).order_by("id")
        self._counter_rows[code] = counters
        live = [s.value for s in LIVE_STATUSES]
        rows = await TicketRow.filter(queue_id=row.id, status__in=live).using_db(self.conn)
        loaded = {r.id for r in rows}
        extra = [i for i in extra_ticket_ids if i not in loaded]
        if extra:
            rows += await TicketRow.filter(queue_id=row.id, id__in=extra).using_db(self.conn)
        queue = queue_from_rows(row, config, counters, rows)
        for r in rows:
            self._versions[r.id] = r.version
            self._snapshots[r.id] = snapshot(queue.tickets[r.id])
        self._queue_rows[code] = row
        return queue

    async def service_samples(self, code: str, since: datetime) -> list[eta.ServiceSample]:
        """The visits of the queue completed since `since`, which its service times are
        learned from."""
        rows = (
            await TicketRow.filter(
                queue__code=code,
                status=TicketStatus.DONE.value,
                finished_at__gte=since,
                called_at__isnull=False,
            )
            .using_db(self.conn)
            .values_list("called_at", "finished_at", "service")
        )
        return [
            eta.ServiceSample(done, (done - called).total_seconds(), kind)
            for called, done, kind in rows
        ]

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
            await self._save_metrics(row, queue, [e for e in events if e.queue == code])
            for counter_row in self._counter_rows[code]:
                is_open = queue.counters[counter_row.name].is_open
                if counter_row.is_open != is_open:  # calling from a closed counter opens it
                    counter_row.is_open = is_open
                    await counter_row.save(using_db=self.conn, update_fields=["is_open"])

    async def _save_tickets(self, tickets: dict[str, Ticket]) -> None:
        created: list[TicketRow] = []
        for ticket in tickets.values():
            queue_id = self._queue_rows[ticket.queue].id
            before = self._snapshots.get(ticket.id)
            if before is None:
                created.append(TicketRow(id=ticket.id, queue_id=queue_id, **ticket_columns(ticket)))
                continue
            if snapshot(ticket) == before:
                continue
            version = self._versions[ticket.id]
            updated = (
                await TicketRow.filter(id=ticket.id, version=version)
                .using_db(self.conn)
                .update(queue_id=queue_id, version=version + 1, **ticket_columns(ticket))
            )
            if updated != 1:
                raise ConcurrentUpdate()
        if created:
            await TicketRow.bulk_create(created, using_db=self.conn)

    async def _save_events(self, settled: Sequence[SettledEvent]) -> None:
        audit: list[TicketEventRow] = []
        outbox: list[OutboxMessage] = []
        for seq, item in enumerate(settled):
            event, ticket = item.event, item.ticket
            if not isinstance(event, TicketEvent):
                continue
            event_id = str(uuid.uuid4())
            audit.append(audit_row(event_id, event, seq))
            if ticket is None:
                continue
            for intent in item.intents:
                payload = intent.params | {
                    "queue_name": self._queue_rows[event.queue].name,
                    "token": ticket.token,
                }
                outbox.append(
                    OutboxMessage(
                        id=str(uuid.uuid4()),
                        idempotency_key=f"{event_id}:{intent.channel}:{intent.recipient}",
                        ticket_id=ticket.id,
                        event_id=event_id,
                        channel=intent.channel,
                        recipient=intent.recipient,
                        kind=intent.kind,
                        payload=payload,
                        urgent=intent.urgent,
                        next_attempt_at=self.now,
                        created_at=self.now,
                    )
                )
        if audit:
            await TicketEventRow.bulk_create(audit, using_db=self.conn)
        if outbox:
            await OutboxMessage.bulk_create(outbox, using_db=self.conn)

    async def _save_metrics(self, row: QueueRow, queue: Queue, events: list[DomainEvent]) -> None:
        metric, _ = await HourlyMetric.get_or_create(
            queue_id=row.id, hour_start=hour_of(self.now), using_db=self.conn
        )
        tally = HourlyTally.of_record(metric)
        tally.add(events, queue)
        for name, value in tally.figures().items():
            setattr(metric, name, value)
        await metric.save(using_db=self.conn)


def snapshot(ticket: Ticket) -> dict[str, Any]:
    """The ticket's stored fields, its queue included, not its derived position (a move in
    line alone writes nothing). A shallow copy is enough: every field is an immutable value."""
    return {name: getattr(ticket, name) for name in TICKET_FIELDS}


def audit_row(event_id: str, event: TicketEvent, seq: int) -> TicketEventRow:
    data = event.to_dict()["data"]
    row = TicketEventRow(
        id=event_id,
        ticket_id=event.ticket_id,
        queue_code=event.queue,
        type=event.type_name(),
        actor=event.actor,
        at=event.at,
        counter=data.get("counter"),
        data={k: v for k, v in data.items() if k not in ("queue", "at", "actor", "ticket_id")},
    )
    if isinstance(event, TicketStateChanged):
        row.from_status = event.from_status.value if event.from_status else None
        row.to_status = event.to_status.value
        row.new_position = data.get("position")
    if isinstance(event, PositionChanged):
        row.old_position, row.new_position = event.old_position, event.new_position
    return row
