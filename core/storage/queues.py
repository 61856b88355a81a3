"""The queue aggregate's storage: a queue with its settings, counters and tickets.

`QueueRepository` is what the queue use cases need from storage; `QueueUnitOfWork` is one
command's transaction (or a read outside any). `TortoiseQueueRepository` keeps them in the
database; the service tests use an in-memory one (`tests/unit/fakes.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.domain import arrivals, eta
from core.domain.errors import InvalidValue
from core.domain.model import (
    AT_COUNTER_STATUSES,
    Counter,
    QueueConfig,
    Ticket,
    shown_queue_name,
)
from core.domain.queue import Queue
from core.domain.settle import SettledEvent
from core.storage import command_sql
from core.storage.errors import AlreadyExists, NotFound
from core.storage.mapping import config_columns, config_from_row, ticket_from_row
from core.storage.models import CounterRow, QueueConfigRow, QueueRow, TicketEventRow, TicketRow
from core.storage.unit_of_work import CommittedLines, TicketRowCache, TortoiseQueueUnitOfWork


@dataclass(frozen=True)
class QueueInfo:
    code: str
    name: str
    prefix: str
    config: QueueConfig
    counters: list[Counter]
    public_name: str | None = None
    """As set; None: patients read the code (`shown_name`)."""

    @property
    def shown_name(self) -> str:
        """The queue's name wherever a patient reads it."""
        return shown_queue_name(self.code, self.public_name)


@dataclass(frozen=True)
class LiveLine:
    """A queue with somebody waiting or called, for housekeeping: when its line was last
    re-evaluated (never: None), and which of the two it has."""

    code: str
    reevaluated_at: datetime | None
    waiting: bool
    called: bool


class QueueUnitOfWork(Protocol):
    async def load(
        self, code: str, extra_ticket_ids: Iterable[str] = (), lock: bool = True
    ) -> Queue:
        """The queue with its live tickets and `extra_ticket_ids`; with `lock`, no other
        command on it runs until this one's transaction ends. Unknown: NotFound."""

    async def service_samples(self, code: str, since: datetime) -> dict[str, eta.ServiceSample]:
        """The queue's visits completed since `since` (by the clock of the command that
        ended them), by ticket id: what service times are learned from."""

    async def join_samples(self, code: str, since: datetime) -> dict[str, arrivals.JoinSample]:
        """The queue's joins since `since`, by ticket id: what arrival rates are learned
        from."""

    async def claim_reevaluation(self, code: str, since: datetime | None) -> bool:
        """Stamps the queue's line re-evaluated at this unit's time if its stamp is still
        `since`, and holds the queue's lock; False when another process re-evaluated it
        since (then nothing is to be done)."""

    async def save(self, queues: Mapping[str, Queue], settled: Sequence[SettledEvent]) -> None:
        """Writes what changed in the loaded `queues` and the command's settled events; a
        ticket changed by someone else since it was loaded: ConcurrentUpdate."""


class QueueRepository(Protocol):
    def transaction(self, now: datetime) -> AbstractAsyncContextManager[QueueUnitOfWork]:
        """One command's unit of work: written when the block ends without an error."""

    def reading(self, now: datetime) -> QueueUnitOfWork:
        """Loads without a lock or a transaction: a display refreshing never holds up a call."""

    async def create(
        self,
        code: str,
        name: str,
        prefix: str,
        config: QueueConfig,
        counters: Sequence[str],
        public_name: str | None = None,
    ) -> None:
        """A new queue; its code taken: AlreadyExists."""

    async def exists(self, code: str) -> bool: ...

    async def live_lines(self) -> list[LiveLine]:
        """The queues with somebody waiting or called, by code, in one cheap query."""

    async def info(self, code: str) -> QueueInfo:
        """Unknown: NotFound."""

    async def infos(self) -> list[QueueInfo]:
        """Every queue, by code."""

    async def update(
        self, code: str, name: str | None, prefix: str | None, counters: list[Counter] | None
    ) -> None:
        """Changes what is given; a counter with a patient at it cannot be removed."""

    async def set_public_name(self, code: str, public_name: str | None) -> None:
        """None: patients read the code again."""

    async def config(self, code: str) -> QueueConfig: ...

    async def put_config(self, code: str, config: QueueConfig) -> None: ...

    async def ticket(self, ticket_id: str | None = None, token: str | None = None) -> Ticket:
        """By id or by public token, live or not; unknown: NotFound."""

    async def history(self, ticket_id: str) -> list[TicketEventRow]:
        """The ticket's audit trail, oldest first."""


class TortoiseQueueRepository:
    """`QueueRepository` in the database tortoise is connected to."""

    def __init__(self) -> None:
        self.ticket_rows = TicketRowCache()
        self.committed_lines = CommittedLines()

    @asynccontextmanager
    async def transaction(self, now: datetime) -> AsyncIterator[TortoiseQueueUnitOfWork]:
        async with in_transaction() as conn:
            uow = TortoiseQueueUnitOfWork(conn, now, self.ticket_rows, self.committed_lines)
            yield uow
        uow.committed()

    def reading(self, now: datetime) -> TortoiseQueueUnitOfWork:
        return TortoiseQueueUnitOfWork(connections.get("default"), now, self.ticket_rows)

    async def create(
        self,
        code: str,
        name: str,
        prefix: str,
        config: QueueConfig,
        counters: Sequence[str],
        public_name: str | None = None,
    ) -> None:
        try:
            async with in_transaction() as conn:
                row = await QueueRow.create(
                    code=code, name=name, public_name=public_name, prefix=prefix, using_db=conn
                )
                await QueueConfigRow.create(queue=row, **config_columns(config), using_db=conn)
                for counter in dict.fromkeys(counters):
                    await CounterRow.create(queue=row, name=counter, using_db=conn)
        except IntegrityError:
            raise AlreadyExists(f"a queue with code {code!r} already exists") from None

    async def exists(self, code: str) -> bool:
        return await QueueRow.exists(code=code)

    async def live_lines(self) -> list[LiveLine]:
        rows = await command_sql.live_lines(connections.get("default"))
        return [LiveLine(*row) for row in rows]

    async def info(self, code: str) -> QueueInfo:
        return await _info(await queue_row(code))

    async def infos(self) -> list[QueueInfo]:
        return [await _info(row) for row in await QueueRow.all().order_by("code")]

    async def update(
        self, code: str, name: str | None, prefix: str | None, counters: list[Counter] | None
    ) -> None:
        async with in_transaction() as conn:
            row = await QueueRow.select_for_update().using_db(conn).get_or_none(code=code)
            if row is None:
                raise NotFound("queue", code)
            if name is not None:
                row.name = name
            if prefix is not None:
                row.prefix = prefix
            await row.save(using_db=conn)
            if counters is not None:
                await _replace_counters(row, counters, conn)

    async def set_public_name(self, code: str, public_name: str | None) -> None:
        if not await QueueRow.filter(code=code).update(public_name=public_name):
            raise NotFound("queue", code)

    async def config(self, code: str) -> QueueConfig:
        row = await queue_row(code)
        return config_from_row(await QueueConfigRow.get(queue_id=row.id))

    async def put_config(self, code: str, config: QueueConfig) -> None:
        row = await queue_row(code)
        await QueueConfigRow.filter(queue_id=row.id).update(**config_columns(config))

    async def ticket(self, ticket_id: str | None = None, token: str | None = None) -> Ticket:
        row = await TicketRow.get_or_none(
            **({"id": ticket_id} if ticket_id is not None else {"token": token})
        ).prefetch_related("queue")
        if row is None:
            raise NotFound("ticket", ticket_id or "")
        return ticket_from_row(row, row.queue.code)

    async def history(self, ticket_id: str) -> list[TicketEventRow]:
        return await TicketEventRow.filter(ticket_id=ticket_id).order_by("at", "seq")


async def queue_row(code: str) -> QueueRow:
    row = await QueueRow.get_or_none(code=code)
    if row is None:
        raise NotFound("queue", code)
    return row


async def _info(row: QueueRow) -> QueueInfo:
    config = config_from_row(await QueueConfigRow.get(queue_id=row.id))
    counters = await CounterRow.filter(queue_id=row.id).order_by("id")
    return QueueInfo(
        row.code,
        row.name,
        row.prefix,
        config,
        [Counter(c.name, c.is_open) for c in counters],
        row.public_name,
    )


async def _replace_counters(row: QueueRow, counters: list[Counter], conn: Any) -> None:
    wanted = {c.name: c for c in counters}
    existing = {c.name: c for c in await CounterRow.filter(queue_id=row.id).using_db(conn)}
    busy = {
        t.counter
        for t in await TicketRow.filter(
            queue_id=row.id, status__in=[s.value for s in AT_COUNTER_STATUSES]
        ).using_db(conn)
    }
    for name, counter_row in existing.items():
        if name not in wanted:
            if name in busy:
                raise InvalidValue(f"counter {name} has a patient at it; finish first")
            await counter_row.delete(using_db=conn)
    for name, counter in wanted.items():
        if name in existing:
            existing[name].is_open = counter.is_open
            await existing[name].save(using_db=conn)
        else:
            await CounterRow.create(queue=row, name=name, is_open=counter.is_open, using_db=conn)
