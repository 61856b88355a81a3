"""In-memory stand-ins for the storage, so use cases are tested without a database.

`FakeQueueRepository` implements `core.storage.queues.QueueRepository` with dictionaries:
a command's unit of work works on copies and writes them back only when its block ends
without an error, as a transaction would. What a command stored beside its tickets (the
audit trail, the notifications, the hourly tallies) is kept in plain lists and dicts the
tests read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from core.domain import arrivals, eta
from core.domain.errors import InvalidValue
from core.domain.events import DomainEvent, TicketEvent
from core.domain.hourly import HourlyTally, hour_of
from core.domain.model import (
    AT_COUNTER_STATUSES,
    LIVE_STATUSES,
    Counter,
    Pause,
    QueueConfig,
    Ticket,
    TicketStatus,
)
from core.domain.notify import NotificationIntent
from core.domain.queue import Queue, joins_by_priority
from core.domain.settle import SettledEvent
from core.storage.errors import AlreadyExists, ConcurrentUpdate, NotFound
from core.storage.models import TicketEventRow
from core.storage.queues import LiveLine, QueueInfo


@dataclass
class StoredQueue:
    name: str
    prefix: str
    config: QueueConfig
    counters: dict[str, Counter]
    day_seq: int = 0
    day_seq_date: date | None = None
    calls_made: int = 0
    joins_by_priority: tuple[int, ...] = ()
    reevaluated_at: datetime | None = None
    public_name: str | None = None
    pause: Pause | None = None


@dataclass
class FakeQueueRepository:
    queues: dict[str, StoredQueue] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    audit: list[TicketEvent] = field(default_factory=list)
    """Every stored ticket event, in the order the commands made them."""
    outbox: list[tuple[TicketEvent, NotificationIntent]] = field(default_factory=list)
    hourly: dict[tuple[str, datetime], HourlyTally] = field(default_factory=dict)
    """(queue code, UTC hour) -> its tally."""
    commits: int = 0

    @asynccontextmanager
    async def transaction(self, now: datetime) -> AsyncIterator[FakeQueueUnitOfWork]:
        uow = FakeQueueUnitOfWork(self, now)
        yield uow
        uow.write()

    def reading(self, now: datetime) -> FakeQueueUnitOfWork:
        return FakeQueueUnitOfWork(self, now)

    async def create(
        self,
        code: str,
        name: str,
        prefix: str,
        config: QueueConfig,
        counters: Sequence[str],
        public_name: str | None = None,
    ) -> None:
        if code in self.queues:
            raise AlreadyExists(f"a queue with code {code!r} already exists")
        self.queues[code] = StoredQueue(
            name,
            prefix,
            config,
            {c: Counter(c) for c in dict.fromkeys(counters)},
            public_name=public_name,
        )

    async def exists(self, code: str) -> bool:
        return code in self.queues

    async def live_lines(self) -> list[LiveLine]:
        def having(status: TicketStatus) -> set[str]:
            return {t.queue for t in self.tickets.values() if t.status is status}

        waiting, called = having(TicketStatus.WAITING), having(TicketStatus.CALLED)
        return [
            LiveLine(c, self.queues[c].reevaluated_at, c in waiting, c in called)
            for c in sorted(waiting | called)
        ]

    async def info(self, code: str) -> QueueInfo:
        stored = self._queue(code)
        counters = [dataclasses.replace(c) for c in stored.counters.values()]
        return QueueInfo(
            code, stored.name, stored.prefix, stored.config, counters, stored.public_name
        )

    async def infos(self) -> list[QueueInfo]:
        return [await self.info(code) for code in sorted(self.queues)]

    async def update(
        self, code: str, name: str | None, prefix: str | None, counters: list[Counter] | None
    ) -> None:
        stored = self._queue(code)
        if counters is not None:
            busy = {
                t.counter
                for t in self.tickets.values()
                if t.queue == code and t.status in AT_COUNTER_STATUSES
            }
            for gone in set(stored.counters) - {c.name for c in counters}:
                if gone in busy:
                    raise InvalidValue(f"counter {gone} has a patient at it; finish first")
            stored.counters = {c.name: dataclasses.replace(c) for c in counters}
        stored.name = name if name is not None else stored.name
        stored.prefix = prefix if prefix is not None else stored.prefix

    async def set_public_name(self, code: str, public_name: str | None) -> None:
        self._queue(code).public_name = public_name

    async def config(self, code: str) -> QueueConfig:
        return self._queue(code).config

    async def put_config(self, code: str, config: QueueConfig) -> None:
        self._queue(code).config = config

    async def ticket(self, ticket_id: str | None = None, token: str | None = None) -> Ticket:
        for ticket in self.tickets.values():
            if ticket.id == ticket_id if ticket_id is not None else ticket.token == token:
                return dataclasses.replace(ticket)
        raise NotFound("ticket", ticket_id or "")

    async def history(self, ticket_id: str) -> list[TicketEventRow]:
        """Always empty: the audit trail is kept as the events themselves, in `audit`."""
        return []

    def _queue(self, code: str) -> StoredQueue:
        if code not in self.queues:
            raise NotFound("queue", code)
        return self.queues[code]


class FakeQueueUnitOfWork:
    def __init__(self, store: FakeQueueRepository, now: datetime) -> None:
        self.store = store
        self.now = now
        self._loaded: dict[str, tuple[Ticket, int]] = {}
        """Ticket id -> the ticket as loaded, and its version then."""
        self._saved: tuple[Mapping[str, Queue], Sequence[SettledEvent]] | None = None
        self._reevaluated: str | None = None
        """The queue whose re-evaluation this unit claimed, stamped when it is written."""

    async def load(
        self, code: str, extra_ticket_ids: Iterable[str] = (), lock: bool = True
    ) -> Queue:
        stored = self.store._queue(code)
        extra = set(extra_ticket_ids)
        tickets = {
            t.id: dataclasses.replace(t)
            for t in self.store.tickets.values()
            if t.queue == code and (t.status in LIVE_STATUSES or t.id in extra)
        }
        self._loaded |= {
            t.id: (dataclasses.replace(t), self.store.versions[t.id]) for t in tickets.values()
        }
        return Queue(
            code=code,
            prefix=stored.prefix,
            config=stored.config,
            counters={c.name: dataclasses.replace(c) for c in stored.counters.values()},
            tickets=tickets,
            day_seq=stored.day_seq,
            day_seq_date=stored.day_seq_date,
            calls_made=stored.calls_made,
            joins_by_priority=joins_by_priority(stored.joins_by_priority),
            pause=stored.pause,
        )

    async def join_samples(self, code: str, since: datetime) -> dict[str, arrivals.JoinSample]:
        return {
            t.id: arrivals.join_sample(t.joined_at, t.service, t.priority, t.appointment_at)
            for t in self.store.tickets.values()
            if t.queue == code and t.joined_at >= since
        }

    async def service_samples(self, code: str, since: datetime) -> dict[str, eta.ServiceSample]:
        return {
            t.id: eta.ServiceSample(
                t.finished_at, (t.finished_at - t.called_at).total_seconds(), t.service
            )
            for t in self.store.tickets.values()
            if t.queue == code
            and t.finished_at is not None
            and t.called_at is not None
            and t.finished_at >= since
            and t.status is TicketStatus.DONE
        }

    async def claim_reevaluation(self, code: str, since: datetime | None) -> bool:
        if self.store._queue(code).reevaluated_at != since:
            return False
        self._reevaluated = code
        return True

    async def save(self, queues: Mapping[str, Queue], settled: Sequence[SettledEvent]) -> None:
        for ticket in self._changed(queues):
            if (
                ticket.id in self._loaded
                and self.store.versions[ticket.id] != self._loaded[ticket.id][1]
            ):
                raise ConcurrentUpdate()
        self._saved = (queues, settled)

    def _changed(self, queues: Mapping[str, Queue]) -> list[Ticket]:
        return [
            ticket
            for queue in queues.values()
            for ticket in queue.tickets.values()
            if ticket.id not in self._loaded or as_stored(ticket) != self._loaded[ticket.id][0]
        ]

    def write(self) -> None:
        """At the end of the transaction: what `save` was given becomes the stored state."""
        if self._reevaluated is not None:
            self.store.queues[self._reevaluated].reevaluated_at = self.now
        if self._saved is None:
            return
        queues, settled = self._saved
        store = self.store
        for code, queue in queues.items():
            stored = store.queues[code]
            stored.day_seq, stored.day_seq_date = queue.day_seq, queue.day_seq_date
            stored.calls_made, stored.joins_by_priority = queue.calls_made, queue.joins_by_priority
            stored.pause = queue.pause
            stored.counters = {c.name: dataclasses.replace(c) for c in queue.counters.values()}
            events: list[DomainEvent] = [s.event for s in settled if s.event.queue == code]
            tally = store.hourly.setdefault(
                (code, hour_of(self.now)), HourlyTally(hour_of(self.now))
            )
            tally.add(events, queue)
        for ticket in self._changed(queues):
            store.tickets[ticket.id] = as_stored(ticket)
            store.versions[ticket.id] = store.versions.get(ticket.id, 0) + 1
        for item in settled:
            if isinstance(item.event, TicketEvent):
                store.audit.append(item.event)
                store.outbox += [(item.event, intent) for intent in item.intents]
        store.commits += 1


def as_stored(ticket: Ticket) -> Ticket:
    """The ticket as storage keeps it: without its place in line, which is derived."""
    return dataclasses.replace(ticket, position=None)
