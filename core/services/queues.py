"""Queue use cases: create and configure queues, join, call, move tickets, read status."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.bus import EventBus
from core.domain import eta
from core.domain.errors import InvalidValue, QueueFull
from core.domain.events import DomainEvent
from core.domain.metrics import Visit, summarise
from core.domain.model import (
    AT_COUNTER_STATUSES,
    Counter,
    QueueConfig,
    Ticket,
    TicketAction,
    TicketStatus,
)
from core.domain.queue import JoinRequest, Queue
from core.phones import normalize_phone
from core.services.errors import AlreadyExists, NotFound
from core.services.mapping import config_columns, config_from_row, ticket_from_row
from core.services.unit_of_work import QueueUnitOfWork
from core.storage.models import (
    CounterRow,
    HourlyMetric,
    OutboxMessage,
    QueueConfigRow,
    QueueRow,
    TicketEventRow,
    TicketRow,
)

T = TypeVar("T")
LearnedServiceTimes = tuple[eta.ServiceTime, dict[str, eta.ServiceTime]]
"""Over every visit, and per kind of visit."""
Clock = Callable[[], datetime]
UnitOfWorkRun = Callable[[QueueUnitOfWork, datetime], Awaitable[T]]
SERVICE_TIME_CACHE_S = 60.0
"""Learned service times move slowly; recomputing them once a minute per queue is enough."""


@dataclass(frozen=True)
class QueueInfo:
    code: str
    name: str
    prefix: str
    config: QueueConfig
    counters: list[Counter]


@dataclass(frozen=True)
class QueueStatus:
    queue: Queue
    estimates: dict[str, eta.Eta]
    service_time: eta.ServiceTime
    avg_wait_s: float
    updated_at: datetime


@dataclass(frozen=True)
class JoinedTicket:
    ticket: Ticket
    estimate: eta.Eta | None
    existing: bool = False
    """The patient already held a live ticket in this queue; that one is returned."""


@dataclass(frozen=True)
class TicketView:
    ticket: Ticket
    estimate: eta.Eta | None
    history: list[TicketEventRow]


class QueueService:
    def __init__(self, bus: EventBus, clock: Clock, phone_region: str | None = None) -> None:
        self.bus = bus
        self.clock = clock
        self.phone_region = phone_region
        self._service_times: dict[str, tuple[float, LearnedServiceTimes]] = {}

    # -- queues ----------------------------------------------------------------------------

    async def create_queue(
        self, code: str, name: str, prefix: str, config: QueueConfig, counters: Sequence[str]
    ) -> QueueInfo:
        await self._check_overflow(code, config)
        try:
            async with in_transaction() as conn:
                row = await QueueRow.create(code=code, name=name, prefix=prefix, using_db=conn)
                await QueueConfigRow.create(queue=row, **config_columns(config), using_db=conn)
                for counter in dict.fromkeys(counters):
                    await CounterRow.create(queue=row, name=counter, using_db=conn)
        except IntegrityError:
            raise AlreadyExists(f"a queue with code {code!r} already exists") from None
        return await self.get_queue(code)

    async def list_queues(self) -> list[QueueInfo]:
        rows = await QueueRow.all().order_by("code")
        return [await self._info(row) for row in rows]

    async def get_queue(self, code: str) -> QueueInfo:
        return await self._info(await queue_row(code))

    async def update_queue(
        self, code: str, name: str | None, prefix: str | None, counters: list[Counter] | None
    ) -> QueueInfo:
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
                await self._replace_counters(row, counters, conn)
        return await self.get_queue(code)

    async def _replace_counters(self, row: QueueRow, counters: list[Counter], conn: Any) -> None:
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
                await CounterRow.create(
                    queue=row, name=name, is_open=counter.is_open, using_db=conn
                )

    async def get_config(self, code: str) -> QueueConfig:
        row = await queue_row(code)
        return config_from_row(await QueueConfigRow.get(queue_id=row.id))

    async def put_config(self, code: str, config: QueueConfig) -> QueueConfig:
        await self._check_overflow(code, config)
        row = await queue_row(code)
        await QueueConfigRow.filter(queue_id=row.id).update(**config_columns(config))
        self._service_times.pop(code, None)
        await self.reposition(code, actor="system:config")
        return config

    async def _check_overflow(self, code: str, config: QueueConfig) -> None:
        target = config.overflow_queue
        if target is None:
            return
        if target == code:
            raise InvalidValue("a queue cannot overflow into itself")
        if not await QueueRow.exists(code=target):
            raise InvalidValue(f"overflow queue {target!r} does not exist")

    # -- reading ---------------------------------------------------------------------------

    async def status(self, code: str) -> QueueStatus:
        """A read without the queue lock: a display refreshing never holds up a call."""
        now = self.clock()
        uow = QueueUnitOfWork(connections.get("default"), now)
        queue = await self._load(uow, code, lock=False)
        waited = [(now - t.joined_at).total_seconds() for t in queue.waiting()]
        avg_wait_s = sum(waited) / len(waited) if waited else 0.0
        return QueueStatus(queue, queue.estimates(now), queue.service(), avg_wait_s, now)

    async def ticket_view(
        self, ticket_id: str | None = None, token: str | None = None, with_history: bool = True
    ) -> TicketView:
        row = await TicketRow.get_or_none(
            **({"id": ticket_id} if ticket_id is not None else {"token": token})
        ).prefetch_related("queue")
        if row is None:
            raise NotFound("ticket", ticket_id or "")
        estimate = None
        if row.status == TicketStatus.WAITING:
            status = await self.status(row.queue.code)
            estimate = status.estimates.get(row.id)
        history = []
        if with_history:
            history = await TicketEventRow.filter(ticket_id=row.id).order_by("at", "seq")
        return TicketView(ticket_from_row(row, row.queue.code), estimate, history)

    async def _load(
        self,
        uow: QueueUnitOfWork,
        code: str,
        extra_ticket_ids: Sequence[str] = (),
        lock: bool = True,
    ) -> Queue:
        """Loads a queue with its learned service times, which its ordering (short visits
        first) and its ETAs stand on."""
        queue = await uow.load(code, extra_ticket_ids, lock=lock)
        queue.service_time, queue.service_times_by_kind = await self._learned_service_times(
            queue, uow.now, uow.conn
        )
        return queue

    async def _learned_service_times(
        self, queue: Queue, now: datetime, conn: BaseDBAsyncClient
    ) -> LearnedServiceTimes:
        cached = self._service_times.get(queue.code)
        if cached and time.monotonic() - cached[0] < SERVICE_TIME_CACHE_S:
            return cached[1]
        since = now - eta.HISTORY_WINDOW
        rows = (
            await TicketRow.filter(
                queue__code=queue.code,
                status=TicketStatus.DONE.value,
                finished_at__gte=since,
                called_at__isnull=False,
            )
            .using_db(conn)
            .values_list("called_at", "finished_at", "service")
        )
        samples = [
            eta.ServiceSample(done, (done - called).total_seconds(), kind)
            for called, done, kind in rows
        ]
        config = queue.config
        learned = eta.learn_service_times(
            samples, now, config.timezone, config.default_service_s, config.service_times_s
        )
        self._service_times[queue.code] = (time.monotonic(), learned)
        return learned

    # -- commands --------------------------------------------------------------------------

    async def join(self, code: str, request: JoinRequest, actor: str) -> JoinedTicket:
        """Joins the queue, or its overflow queue when it is full and has one."""
        if request.phone is not None:
            request = dataclasses.replace(
                request, phone=normalize_phone(request.phone, self.phone_region)
            )
        try:
            return await self._join(code, request, actor)
        except QueueFull as full:
            if full.overflow_queue is None:
                raise
            return await self._join(full.overflow_queue, request, actor, overflowed_from=code)

    async def _join(
        self, code: str, request: JoinRequest, actor: str, overflowed_from: str | None = None
    ) -> JoinedTicket:
        async def run(uow: QueueUnitOfWork, now: datetime) -> JoinedTicket:
            queue = await self._load(uow, code)
            existing = queue.live_ticket_of(request.telegram_chat_id, request.phone)
            if existing is not None:
                return JoinedTicket(existing, queue.estimates(now).get(existing.id), existing=True)
            ticket = queue.join(request, now, actor, overflowed_from=overflowed_from)
            if request.travel_s is not None:
                queue.set_travel_time(ticket.id, request.travel_s)
            return JoinedTicket(ticket, queue.estimates(now)[ticket.id])

        return await self._in_unit_of_work(run)

    async def call_next(self, code: str, counter: str, actor: str) -> Ticket:
        return await self._command(code, lambda q, now: q.call_next(counter, now, actor))

    async def reposition(self, code: str, actor: str) -> int:
        return await self._command(code, lambda q, now: q.reposition(now, actor))

    async def expire_called(self, code: str) -> list[Ticket]:
        return await self._command(code, lambda q, now: q.expire_called(now))

    async def ticket_action(
        self,
        ticket_id: str,
        action: str,
        actor: str,
        counter: str | None = None,
        to_queue: str | None = None,
    ) -> Ticket:
        """A `TicketAction`, or its name as a client sent it."""
        try:
            chosen = TicketAction(action)
        except ValueError:
            chosen = None
        row = await TicketRow.get_or_none(id=ticket_id).prefetch_related("queue")
        if row is None:
            raise NotFound("ticket", ticket_id)
        code = row.queue.code
        if chosen is TicketAction.TRANSFER:
            if not to_queue:
                raise InvalidValue("transfer needs the target queue")
            return await self._transfer(code, ticket_id, to_queue, actor)
        if chosen is TicketAction.CALL and not counter:
            raise InvalidValue("call needs a counter")
        commands: dict[TicketAction, Callable[[Queue, datetime], Ticket]] = {
            TicketAction.CALL: lambda q, now: q.call(ticket_id, counter or "", now, actor),
            TicketAction.RECALL: lambda q, now: q.recall(ticket_id, now, actor),
            TicketAction.START: lambda q, now: q.start(ticket_id, now, actor),
            TicketAction.COMPLETE: lambda q, now: q.complete(ticket_id, now, actor),
            TicketAction.NO_SHOW: lambda q, now: q.mark_no_show(ticket_id, now, actor),
            TicketAction.CANCEL: lambda q, now: q.cancel(ticket_id, now, actor),
            TicketAction.RETURN: lambda q, now: q.return_to_line(ticket_id, now, actor),
        }
        if chosen is None:
            raise InvalidValue(f"unknown action {action!r}; one of {', '.join(TicketAction)}")
        return await self._command(code, commands[chosen], extra_ticket_ids=[ticket_id])

    async def on_ticket(self, ticket_id: str, command: Callable[[Queue, datetime], T]) -> T:
        """Runs a domain command on the ticket's queue, with the ticket loaded even when it
        is no longer live (a rating comes after the visit)."""
        row = await TicketRow.get_or_none(id=ticket_id).prefetch_related("queue")
        if row is None:
            raise NotFound("ticket", ticket_id)
        return await self._command(row.queue.code, command, extra_ticket_ids=[ticket_id])

    async def _transfer(self, source: str, ticket_id: str, target: str, actor: str) -> Ticket:
        async def run(uow: QueueUnitOfWork, now: datetime) -> Ticket:
            # Lock the queues in one order, so two opposite transfers cannot deadlock; a
            # transfer into its own queue loads it once and the domain refuses it.
            loaded = {
                code: await self._load(uow, code, [ticket_id]) for code in sorted({source, target})
            }
            ticket = loaded[source].transfer_out(ticket_id, target, now, actor)
            return loaded[target].accept_transfer(ticket, source, now, actor)

        return await self._in_unit_of_work(run)

    async def _command(
        self,
        code: str,
        command: Callable[[Queue, datetime], T],
        extra_ticket_ids: Sequence[str] = (),
    ) -> T:
        async def run(uow: QueueUnitOfWork, now: datetime) -> T:
            queue = await self._load(uow, code, extra_ticket_ids)
            return command(queue, now)

        return await self._in_unit_of_work(run)

    async def _in_unit_of_work(self, run: UnitOfWorkRun[T]) -> T:
        # Shielded: a client that hangs up mid-command must not cancel the transaction
        # half-way (that leaked pooled connections "idle in transaction"); it completes.
        return await asyncio.shield(self._run_unit_of_work(run))

    async def _run_unit_of_work(self, run: UnitOfWorkRun[T]) -> T:
        now = self.clock()
        async with in_transaction() as conn:
            uow = QueueUnitOfWork(conn, now)
            result = await run(uow, now)
            events = await uow.commit()
        await self._publish(events)
        return result

    async def _publish(self, events: list[DomainEvent]) -> None:
        if events:
            await self.bus.publish([e.to_dict() for e in events])

    # -- helpers ---------------------------------------------------------------------------

    async def _info(self, row: QueueRow) -> QueueInfo:
        config = config_from_row(await QueueConfigRow.get(queue_id=row.id))
        counters = await CounterRow.filter(queue_id=row.id).order_by("id")
        return QueueInfo(
            row.code, row.name, row.prefix, config, [Counter(c.name, c.is_open) for c in counters]
        )


async def queue_row(code: str) -> QueueRow:
    row = await QueueRow.get_or_none(code=code)
    if row is None:
        raise NotFound("queue", code)
    return row


def new_join_request(**fields: Any) -> JoinRequest:
    """A join request with a fresh ticket id and an unguessable public token."""
    return JoinRequest(ticket_id=str(uuid.uuid4()), token=secrets.token_urlsafe(16), **fields)


async def analytics(code: str, days: int, now: datetime) -> dict[str, Any]:
    """Figures over the tickets that joined in the last `days` days."""
    if not 1 <= days <= 366:
        raise InvalidValue("days must be between 1 and 366")
    row = await queue_row(code)
    config = await QueueConfigRow.get(queue_id=row.id)
    rows = await TicketRow.filter(queue_id=row.id, joined_at__gte=now - timedelta(days=days))
    visits = [
        Visit(r.joined_at, TicketStatus(r.status), r.called_at, r.finished_at, r.counter)
        for r in rows
    ]
    summary = summarise(visits, config.timezone)
    return {
        "code": code,
        "days": days,
        "since": (now - timedelta(days=days)).isoformat(),
        **summary,
        "sms": await sms_cost(row.id, now - timedelta(days=days)),
    }


async def sms_cost(queue_id: int, since: datetime) -> dict[str, Any]:
    """SMS segments billed for the visits that joined since `since` (replies to the
    patients' texts included), and per visit that used SMS at all."""
    return sms_figures(await sms_segments(queue_id, since))


async def sms_segments(
    queue_id: int, start: datetime, end: datetime | None = None
) -> dict[str, int]:
    """Segments per visit that joined in [start, end): only what went out by SMS (not to
    the dev inbox), replies included."""
    query = OutboxMessage.filter(
        ticket__queue_id=queue_id,
        ticket__joined_at__gte=start,
        channel="sms",
        delivered_to="sms",
        segments__not_isnull=True,
    )
    if end is not None:
        query = query.filter(ticket__joined_at__lt=end)
    per_visit: dict[str, int] = {}
    for ticket_id, segments in await query.values_list("ticket_id", "segments"):
        per_visit[ticket_id] = per_visit.get(ticket_id, 0) + segments
    return per_visit


def sms_figures(segments_by_visit: dict[str, int]) -> dict[str, Any]:
    total = sum(segments_by_visit.values())
    visits = len(segments_by_visit)
    return {
        "visits": visits,
        "segments": total,
        "segments_per_visit": round(total / visits, 2) if visits else None,
    }


async def hourly_metrics(code: str, start: datetime, end: datetime) -> list[HourlyMetric]:
    if end <= start:
        raise InvalidValue("until must be after since")
    row = await queue_row(code)
    return await HourlyMetric.filter(
        queue_id=row.id, hour_start__gte=start, hour_start__lt=end
    ).order_by("hour_start")
