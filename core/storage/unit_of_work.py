"""The stored side of one command's transaction: lock the queues, load them, then write
what changed.

Tickets, their audit events, the outbox rows for the notifications they cause and the
hourly metrics are all written in the same transaction, so they stand or fall together.
What the patients are told was decided before (`core.domain.settle`); this only writes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
from core.domain.model import LIVE_STATUSES, Counter, Pause, Ticket, TicketStatus, shown_queue_name
from core.domain.notify import DeliveryStatus, patient_channel
from core.domain.queue import Queue, joins_by_priority
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


@dataclass
class CommittedLine:
    """A queue's live tickets as a command left them: the objects, their stored rows and
    versions, each by ticket id (the same ids in all three)."""

    tickets: dict[str, Ticket]
    rows: dict[str, TicketValues]
    versions: dict[str, int]


class CommittedLines:
    """Each queue's live tickets as the last command of this process on it committed them:
    the domain objects themselves, with the rows they are stored as. The next command on the
    queue takes them over, under the queue's lock, for every ticket still at the same
    version, instead of making a ticket per row: with 800 waiting, making them cost more
    than the rest of a command; when no version moved (the usual case: this process made
    the last change), the whole line is taken at once.

    Taking is exclusive (`take` hands the line over and forgets it), so only the command
    holding the queue's lock changes these objects; it gives them back when it commits.
    A command that fails gives nothing back: what it changed in memory is never seen
    again, and the next command makes its tickets from the rows."""

    def __init__(self) -> None:
        self._lines: dict[int, CommittedLine] = {}

    def take(self, queue_id: int) -> CommittedLine | None:
        return self._lines.pop(queue_id, None)

    def give(self, queue_id: int, line: CommittedLine) -> None:
        self._lines[queue_id] = line


VERIFY_TOUCHED = False
"""Set by the test suite: every save also compares every loaded ticket with its row and
fails if one changed that its queue's `touched` does not name (a change the domain made
without an event would otherwise never be written)."""


class TortoiseQueueUnitOfWork:
    """`QueueUnitOfWork` on one tortoise connection (a transaction's, or the default one
    for reads)."""

    def __init__(
        self,
        conn: BaseDBAsyncClient,
        now: datetime,
        cache: TicketRowCache,
        lines: CommittedLines | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self.cache = cache
        self.lines = lines
        """Given to a command's unit (not to reads): the committed tickets to take over."""
        self._written: dict[str, tuple[int, TicketValues]] = {}
        """Ticket id -> its queue's id and the row this unit of work wrote, for the caches
        once they are committed."""
        self._counter_rows: dict[str, list[tuple[int, str, bool]]] = {}
        self._queue_rows: dict[str, QueueRow] = {}
        self._queues: dict[str, Queue] = {}
        self._loaded: dict[str, CommittedLine] = {}
        """Queue code -> its tickets as loaded."""
        self._extra_ids: set[str] = set()

    async def load(
        self, code: str, extra_ticket_ids: Iterable[str] = (), lock: bool = True
    ) -> Queue:
        """Locks the queue row until commit, so commands on one queue never interleave."""
        found = await command_sql.queue_rows(self.conn, code, lock)
        if found is None:
            raise NotFound("queue", code)
        row, config, counters = found
        extra_ids = list(dict.fromkeys(extra_ticket_ids))
        self._extra_ids.update(extra_ids)
        tickets = await self._tickets(code, row.id, extra_ids)
        self._counter_rows[code] = counters
        self._queue_rows[code] = row
        queue = self._queues[code] = Queue(
            code=row.code,
            prefix=row.prefix,
            config=config_from_row(config),
            counters={name: Counter(name, is_open) for _, name, is_open in counters},
            tickets=tickets,
            day_seq=row.day_seq,
            day_seq_date=row.day_seq_date,
            calls_made=row.calls_made,
            joins_by_priority=joins_by_priority(row.joins_by_priority),
            pause=_pause_of(row),
        )
        return queue

    async def claim_reevaluation(self, code: str, since: datetime | None) -> bool:
        """Stamps the queue re-evaluated now, locking its row, if nobody did since `since`."""
        return await command_sql.claim_reevaluation(self.conn, code, since, self.now)

    async def _tickets(self, code: str, queue_id: int, extra_ids: list[str]) -> dict[str, Ticket]:
        """The queue's live tickets and `extra_ids`: those the last command committed, at
        the version still stored, as it left them (a command's unit only); the others made
        from their rows, read only when this process has not seen their version."""
        versions = await command_sql.ticket_versions(self.conn, queue_id, extra_ids)
        taken = self.lines.take(queue_id) if self.lines is not None else None
        if taken is not None and taken.versions == versions:
            loaded = taken  # nobody else wrote any of them since: all taken over at once
        else:
            loaded = await self._made_again(code, queue_id, versions, taken)
        self._loaded[code] = loaded
        self.cache.keep(queue_id, loaded.rows)
        return dict(loaded.tickets)

    async def _made_again(
        self, code: str, queue_id: int, versions: dict[str, int], taken: CommittedLine | None
    ) -> CommittedLine:
        """The tickets of `versions`: taken over from `taken` where at the same version,
        else made from their rows (cached when at the same version, else read)."""
        known = self.cache.rows(queue_id)
        tickets: dict[str, Ticket] = {}
        rows: dict[str, TicketValues] = {}
        stale = []
        for ticket_id, version in versions.items():
            if taken is not None and taken.versions.get(ticket_id) == version:
                tickets[ticket_id], rows[ticket_id] = (
                    taken.tickets[ticket_id],
                    taken.rows[ticket_id],
                )
                continue
            row = known.get(ticket_id)
            if row is not None and row[-1] == version:
                rows[ticket_id] = row
            else:
                stale.append(ticket_id)
        for row in await command_sql.ticket_rows(self.conn, stale) if stale else ():
            rows[row[0]] = row
        for ticket_id, row in rows.items():
            if ticket_id not in tickets:
                # Sliced, not unpacked: a tuple at once rather than a list copied into one.
                tickets[ticket_id] = ticket_from_values(code, ticket_id, row[1:-1])
        return CommittedLine(tickets, rows, {i: row[-1] for i, row in rows.items()})

    def _loaded_row(self, ticket_id: str) -> tuple[str, TicketValues] | None:
        """The queue a ticket was loaded with and its row then (None: made by this unit)."""
        for code, line in self._loaded.items():
            row = line.rows.get(ticket_id)
            if row is not None:
                return code, row
        return None

    def committed(self) -> None:
        """The transaction committed: what it wrote is what is stored, and the live tickets
        of its queues are the committed state the next command takes over. Only the tickets
        a command touched can have changed, so only those are looked at."""
        for queue_id, row in self._written.values():
            self.cache.put(queue_id, row)
        if self.lines is None:
            return
        for code, queue in self._queues.items():
            loaded = self._loaded[code]
            line = CommittedLine(dict(queue.tickets), dict(loaded.rows), dict(loaded.versions))
            # Touched, loaded besides the line (a finished visit being rated), or gone.
            looked_at = (
                queue.touched | self._extra_ids | (loaded.tickets.keys() - line.tickets.keys())
            )
            for ticket_id in looked_at:
                ticket = queue.tickets.get(ticket_id)
                written = self._written.get(ticket_id)
                if ticket is None or ticket.queue != code or ticket.status not in LIVE_STATUSES:
                    for held in (line.tickets, line.rows, line.versions):
                        held.pop(ticket_id, None)  # gone from the line, or to another queue
                elif written is not None:
                    line.rows[ticket_id] = row = written[1]
                    line.versions[ticket_id] = row[-1]
            queue.touched.clear()
            self.lines.give(self._queue_rows[code].id, line)

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
        writes = command_sql.Writes()
        self._save_tickets(_touched_tickets(queues), writes)
        await self._save_events(settled, writes)
        postgres = command_sql.is_postgres(self.conn)
        for code, queue in queues.items():
            row = self._queue_rows[code]
            changed = _queue_changes(row, queue)
            if changed:
                writes.update_row("queues", row.id, changed)
            tally = HourlyTally(hour_of(self.now))
            tally.add([e for e in events if e.queue == code], queue)
            writes.add_to_hourly(row.id, tally, postgres)
            for counter_id, name, was_open in self._counter_rows[code]:
                is_open = queue.counters[name].is_open
                if was_open != is_open:  # calling from a closed counter opens it
                    writes.update_row("counters", counter_id, {"is_open": is_open})
        if not await writes.run(self.conn):
            raise ConcurrentUpdate()  # a ticket written by another command since its load

    def _save_tickets(self, tickets: list[Ticket], writes: command_sql.Writes) -> None:
        """Writes the `tickets` whose stored fields changed (see `Queue.touched`)."""
        if VERIFY_TOUCHED:
            self._verify_touched({t.id for t in tickets})
        created: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for ticket in tickets:
            loaded = self._loaded_row(ticket.id)
            after = stored_ticket_values(ticket)
            if loaded is not None and after == loaded[1][1:-1] and ticket.queue == loaded[0]:
                continue  # touched, but nothing stored changed (a broadcast, say)
            queue_id = self._queue_rows[ticket.queue].id
            if loaded is None:
                created.setdefault(queue_id, []).append((ticket.id, ticket_columns(ticket)))
                self._written[ticket.id] = (queue_id, (ticket.id, *after, 0))
                continue
            version = loaded[1][-1]
            self._written[ticket.id] = (queue_id, (ticket.id, *after, version + 1))
            writes.update_ticket(ticket.id, version, queue_id, ticket_columns(ticket))
        for queue_id, new in created.items():
            writes.insert_tickets(queue_id, new)

    def _verify_touched(self, touched: set[str]) -> None:
        untouched_changes = sorted(
            ticket.id
            for queue in self._queues.values()
            for ticket in queue.tickets.values()
            if ticket.id not in touched
            and (
                (loaded := self._loaded_row(ticket.id)) is None
                or stored_ticket_values(ticket) != loaded[1][1:-1]
            )
        )
        if untouched_changes:
            raise AssertionError(f"tickets changed but not touched: {untouched_changes}")

    async def _save_events(
        self, settled: Sequence[SettledEvent], writes: command_sql.Writes
    ) -> None:
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
            writes.insert("ticket_events", AUDIT_COLUMNS, audit)
        if consents:
            writes.insert("consents", CONSENT_COLUMNS, consents)
        if outbox:
            writes.insert("outbox", OUTBOX_COLUMNS, outbox)


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


def _touched_tickets(queues: Mapping[str, Queue]) -> list[Ticket]:
    """The tickets the commands on `queues` touched, each once (a transfer touches its
    ticket in both queues; the one it went to holds it)."""
    touched: dict[str, Ticket] = {}
    for queue in queues.values():
        for ticket_id in queue.touched:
            ticket = queue.tickets.get(ticket_id)
            if ticket is not None:
                touched[ticket_id] = ticket
    return list(touched.values())


def _queue_changes(row: QueueRow, queue: Queue) -> dict[str, Any]:
    """The columns of the queue's row that the command changed (the day's numbering, its
    count of calls and joins, a pause), with their new values as stored."""
    pause = queue.pause
    after = {
        "day_seq": queue.day_seq,
        "day_seq_date": queue.day_seq_date,
        "calls_made": queue.calls_made,
        "joins_by_priority": list(queue.joins_by_priority),
        "paused_at": pause.at if pause else None,
        "paused_by": pause.by if pause else None,
        "pause_message": pause.message if pause else None,
    }
    changed = {name: value for name, value in after.items() if getattr(row, name) != value}
    if "joins_by_priority" in changed:
        changed["joins_by_priority"] = _json(
            QueueRow, "joins_by_priority", changed["joins_by_priority"]
        )
    return changed


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
