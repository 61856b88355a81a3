"""Queue use cases: create and configure queues, join, call, move tickets, read status."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from core.bus import EventBus, Message
from core.domain import broadcast as broadcasts
from core.domain import eta
from core.domain.consent import consent_of
from core.domain.errors import InvalidValue, QueueFull
from core.domain.events import DomainEvent
from core.domain.model import (
    MAX_PUBLIC_NAME,
    Counter,
    Pause,
    QueueConfig,
    Ticket,
    TicketAction,
    TicketStatus,
    ticket_copy,
)
from core.domain.notify import Channel, patient_channel
from core.domain.queue import JoinRequest, Queue
from core.domain.settle import Settlement, settlement
from core.messages import is_gsm7, pick_language, render_notification, sms_segments
from core.phones import normalize_phone
from core.services.arrival_rates import RunningArrivalRates
from core.services.errors import Forbidden
from core.services.service_times import RunningServiceTimes
from core.storage.models import TicketEventRow
from core.storage.queues import (
    LiveLine,
    QueueRepository,
    QueueUnitOfWork,
    TortoiseQueueRepository,
)
from core.storage.queues import QueueInfo as QueueInfo  # the answer of the queue reads

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
Command = Callable[[dict[str, Queue], datetime], T]
"""A pure domain call on the queues a command loaded, by code."""
STAFF_ACTOR = "staff:"
"""How the audit trail names staff (`core.services.accounts.actor`)."""
TIMER_ACTOR = "system:timer"
CLOSE_ACTOR = "system:close"
"""Who ends the tickets still waiting at closing time (`on_close: close_remaining`)."""
"""Who re-evaluates quiet lines (core/services/housekeeping.py)."""


@dataclass(frozen=True)
class QueueStatus:
    queue: Queue
    estimates: dict[str, eta.Eta]
    service_time: eta.ServiceTime
    avg_wait_s: float
    updated_at: datetime

    def detached(self) -> QueueStatus:
        """This status, kept apart from the commands that run on its queue afterwards."""
        return dataclasses.replace(self, queue=self.queue.snapshot())


@dataclass(frozen=True)
class Committed:
    """What one command committed, told to listeners just after the commit and before its
    events are published: the status of every queue it changed, built from the objects it
    committed (no read), and the messages about to go to the bus, in order (listeners must
    not change them). The next command on the queue takes those objects over and changes
    them: a listener keeps a status only as `QueueStatus.detached`."""

    statuses: tuple[QueueStatus, ...]
    messages: list[Message]


CommitListener = Callable[[Committed], None]


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


@dataclass(frozen=True)
class BroadcastSent:
    """What a broadcast queued: how many patients it goes to, by channel (`telegram`,
    `sms`), and how many of those addressed have no channel (a walk-in without a phone)."""

    audience: broadcasts.Audience
    by_channel: dict[str, int]
    unreachable: int

    @property
    def sent(self) -> int:
        return sum(self.by_channel.values())


def broadcast_sms_segments(
    text: str, tickets: Sequence[Ticket], queue_name: str, language: str
) -> int:
    """The most SMS segments the broadcast takes for any of `tickets` reached by SMS (0 when
    none is), as the catalogue words it in each patient's language."""
    most = 0
    for ticket in tickets:
        channel = patient_channel(ticket)
        if channel is None or channel[0] is not Channel.SMS:
            continue
        lang = pick_language(ticket.language, language)
        params = {"queue_name": queue_name, "number": ticket.number, "text": text}
        most = max(most, sms_segments(render_notification("broadcast", "sms", lang, params).text))
    return most


def checked_public_name(public_name: str | None) -> str | None:
    """A queue's public name as stored: trimmed, blank as None. It is in every SMS, whose
    templates keep to one GSM-7 segment with a name of up to MAX_PUBLIC_NAME characters."""
    public_name = (public_name or "").strip() or None
    if public_name is None:
        return None
    if len(public_name) > MAX_PUBLIC_NAME:
        raise InvalidValue(f"public_name: at most {MAX_PUBLIC_NAME} characters")
    if not is_gsm7(public_name):
        raise InvalidValue(
            "public_name: only characters a plain SMS carries (GSM-7: no emoji; of the "
            "accented letters, à é è ì ò ù ä ö ü ñ Ç É Ä Ö Ü Ñ)"
        )
    return public_name


class QueueService:
    """The queue use cases, over a `QueueRepository`: the database's unless one is given
    (the unit tests give an in-memory one)."""

    def __init__(
        self,
        bus: EventBus,
        clock: Clock,
        phone_region: str | None = None,
        store: QueueRepository | None = None,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.phone_region = phone_region
        self.store: QueueRepository = store or TortoiseQueueRepository()
        self.service_times = RunningServiceTimes()
        self.arrival_rates = RunningArrivalRates()
        self._listeners: list[CommitListener] = []

    def on_committed(self, listener: CommitListener) -> None:
        """`listener` is told every commit, in this process, in the order they are
        registered; it runs in the command's task, so it must be quick and not block."""
        self._listeners.append(listener)

    # -- queues ----------------------------------------------------------------------------

    async def create_queue(
        self,
        code: str,
        name: str,
        prefix: str,
        config: QueueConfig,
        counters: Sequence[str],
        public_name: str | None = None,
    ) -> QueueInfo:
        public_name = checked_public_name(public_name)
        await self._check_overflow(code, config)
        await self.store.create(code, name, prefix, config, counters, public_name)
        return await self.get_queue(code)

    async def list_queues(self) -> list[QueueInfo]:
        return await self.store.infos()

    async def exists(self, code: str) -> bool:
        return await self.store.exists(code)

    async def get_queue(self, code: str) -> QueueInfo:
        return await self.store.info(code)

    async def update_queue(
        self, code: str, name: str | None, prefix: str | None, counters: list[Counter] | None
    ) -> QueueInfo:
        await self.store.update(code, name, prefix, counters)
        return await self.get_queue(code)

    async def set_public_name(self, code: str, public_name: str | None) -> QueueInfo:
        """The name patients read; None or blank: the code (`shown_queue_name`)."""
        await self.store.set_public_name(code, checked_public_name(public_name))
        return await self.get_queue(code)

    async def get_config(self, code: str) -> QueueConfig:
        return await self.store.config(code)

    async def put_config(self, code: str, config: QueueConfig) -> QueueConfig:
        await self._check_overflow(code, config)
        await self.store.put_config(code, config)
        await self.reposition(code, actor="system:config")
        return config

    async def _check_overflow(self, code: str, config: QueueConfig) -> None:
        target = config.overflow_queue
        if target is None:
            return
        if target == code:
            raise InvalidValue("a queue cannot overflow into itself")
        if not await self.store.exists(target):
            raise InvalidValue(f"overflow queue {target!r} does not exist")

    # -- reading ---------------------------------------------------------------------------

    async def status(self, code: str) -> QueueStatus:
        """A read without the queue lock: a display refreshing never holds up a call."""
        now = self.clock()
        queue = await self._load(self.store.reading(now), code, now, lock=False)
        return status_of(queue, now)

    async def ticket_view(
        self, ticket_id: str | None = None, token: str | None = None, with_history: bool = True
    ) -> TicketView:
        ticket = await self.store.ticket(ticket_id, token)
        estimate = None
        if ticket.status is TicketStatus.WAITING:
            # Its place in line is derived from the whole line's order: the ranked queue has it.
            status = await self.status(ticket.queue)
            ticket = status.queue.tickets.get(ticket.id, ticket)
            estimate = status.estimates.get(ticket.id)
        history = await self.store.history(ticket.id) if with_history else []
        return TicketView(ticket, estimate, history)

    async def _load(
        self,
        uow: QueueUnitOfWork,
        code: str,
        now: datetime,
        extra_ticket_ids: Sequence[str] = (),
        lock: bool = True,
    ) -> Queue:
        """Loads a queue with its learned service times, which its ordering (short visits
        first) and its ETAs stand on, and ranks its line: positions are never stored."""
        queue = await uow.load(code, extra_ticket_ids, lock=lock)
        queue.service_time, queue.service_times_by_kind = await self.service_times.learned(
            queue, now, uow
        )
        queue.arrival_rates = await self.arrival_rates.learned(queue, now, uow)
        queue.rank(now)
        return queue

    # -- commands --------------------------------------------------------------------------

    async def join(self, code: str, request: JoinRequest, actor: str) -> JoinedTicket:
        """Joins the queue, or its overflow queue when it is full and has one."""
        if request.phone is not None:
            request = dataclasses.replace(
                request, phone=normalize_phone(request.phone, self.phone_region)
            )
        if request.consent is None:
            request = dataclasses.replace(request, consent=consent_of(actor))
        if request.force and not actor.startswith(STAFF_ACTOR):
            # Only staff at the counter may add a patient past the hours or a pause.
            raise Forbidden("only staff may add a patient while the queue is closed (force)")
        try:
            return await self._join(code, request, actor)
        except QueueFull as full:
            if full.overflow_queue is None:
                raise
            return await self._join(full.overflow_queue, request, actor, overflowed_from=code)

    async def _join(
        self, code: str, request: JoinRequest, actor: str, overflowed_from: str | None = None
    ) -> JoinedTicket:
        def join(queues: dict[str, Queue], now: datetime) -> JoinedTicket:
            queue = queues[code]
            existing = queue.live_ticket_of(request.telegram_chat_id, request.phone)
            if existing is not None:  # nothing changes: no settling forecasts the line
                return JoinedTicket(existing, queue.estimates(now).get(existing.id), existing=True)
            ticket = queue.join(request, now, actor, overflowed_from=overflowed_from)
            if request.travel_s is not None:
                queue.set_travel_time(ticket.id, request.travel_s)
            return JoinedTicket(ticket, None)

        joined, settled = await self._transact_settled([code], join)
        if joined.existing:
            return joined
        # The wait the patient is told in the answer is the one settling advised them of.
        return dataclasses.replace(joined, estimate=settled.estimates[code][joined.ticket.id])

    async def pause(self, code: str, message: str | None, actor: str) -> Pause:
        """Stops joins to the queue at once (`Queue.pause_joins`), audited and announced."""
        return await self._transact(
            [code], lambda qs, now: qs[code].pause_joins(message, now, actor)
        )

    async def resume(self, code: str, actor: str) -> None:
        """Lets joins in again (`Queue.resume_joins`)."""
        await self._transact([code], lambda qs, now: qs[code].resume_joins(now, actor))

    async def broadcast(self, code: str, text: str, to: str, actor: str) -> BroadcastSent:
        """Staff's message to the patients of the line (`to`: waiting or all): one
        notification each on their channel, in the command's one transaction with the
        audit event of each ticket. Refused whole (nothing sent) when the SMS would take
        more than `MAX_BROADCAST_SMS_SEGMENTS` for a patient reached by SMS."""
        audience = broadcasts.audience_of(to)
        text = broadcasts.checked_text(text)
        info = await self.get_queue(code)  # the name patients read, which the SMS carries

        def broadcast(queues: dict[str, Queue], now: datetime) -> BroadcastSent:
            queue = queues[code]
            reached = queue.broadcast(text, audience, now, actor)
            segments = broadcast_sms_segments(text, reached, info.shown_name, queue.config.language)
            by_channel = {c.value: 0 for c in Channel}
            for ticket in reached:
                channel = patient_channel(ticket)
                if channel is not None:
                    by_channel[channel[0].value] += 1
            if segments > broadcasts.MAX_BROADCAST_SMS_SEGMENTS:
                # Raised inside the transaction: it rolls back, and no event is kept.
                raise broadcasts.BroadcastTooLong(segments, by_channel[Channel.SMS.value])
            addressed = len(broadcasts.addressed(queue.tickets.values(), audience))
            return BroadcastSent(audience, by_channel, addressed - len(reached))

        return await self._transact([code], broadcast)

    async def call_next(self, code: str, counter: str, actor: str) -> Ticket:
        return await self._transact([code], lambda qs, now: qs[code].call_next(counter, now, actor))

    async def reposition(self, code: str, actor: str) -> int:
        """Has the line, as it stands now, announced and its patients told what is due (see
        `Queue.reposition`); returns how many are waiting."""
        return await self._transact([code], lambda qs, now: qs[code].reposition(now, actor))

    async def live_lines(self) -> list[LiveLine]:
        """The queues with somebody waiting or called (what housekeeping looks at)."""
        return await self.store.live_lines()

    async def reevaluate(self, line: LiveLine, actor: str = TIMER_ACTOR) -> int | None:
        """Time has passed on a quiet line: it is settled at the clock's time as after a
        command (`Queue.reevaluate`), and what that gives is committed and published as a
        command's would be; nothing but the stamp is written when it gives nothing. None
        when another process re-evaluated it since `line` was read (then nothing is done);
        else how many events it committed."""
        code = line.code
        try:
            _, settled = await self._transact_settled(
                [code],
                lambda qs, now: qs[code].reevaluate(now, line.reevaluated_at, actor),
                claim=line,
            )
        except _ReevaluatedElsewhere:
            return None
        return len(settled.events)

    async def close_remaining(self, code: str) -> list[Ticket]:
        """Closing time (`Queue.close_remaining`): under the queue's lock, so of several
        processes one closes each ticket, once."""
        return await self._transact(
            [code], lambda qs, now: qs[code].close_remaining(now, CLOSE_ACTOR)
        )

    async def expire_called(self, code: str) -> list[Ticket]:
        return await self._transact([code], lambda qs, now: qs[code].expire_called(now))

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
        code = (await self.store.ticket(ticket_id)).queue
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
        command = commands[chosen]
        return await self._transact([code], lambda qs, now: command(qs[code], now), [ticket_id])

    async def on_ticket(self, ticket_id: str, command: Callable[[Queue, datetime], T]) -> T:
        """Runs a domain command on the ticket's queue, with the ticket loaded even when it
        is no longer live (a rating comes after the visit)."""
        code = (await self.store.ticket(ticket_id)).queue
        return await self._transact([code], lambda qs, now: command(qs[code], now), [ticket_id])

    async def mark_unreachable(self, ticket_id: str, call_at: datetime) -> bool:
        """The call ladder of the call made at `call_at` ran out (`core.delivery.ladder`):
        the board shows the ticket "unreachable". False when there was nothing to mark."""
        return await self.on_ticket(
            ticket_id, lambda q, now: q.mark_unreachable(ticket_id, call_at, now)
        )

    async def _transfer(self, source: str, ticket_id: str, target: str, actor: str) -> Ticket:
        def transfer(queues: dict[str, Queue], now: datetime) -> Ticket:
            ticket = queues[source].transfer_out(ticket_id, target, now, actor)
            return queues[target].accept_transfer(ticket, source, now, actor)

        # A transfer into its own queue loads it once, and the domain refuses it.
        return await self._transact([source, target], transfer, [ticket_id])

    async def _transact(
        self, codes: Sequence[str], command: Command[T], extra_ticket_ids: Sequence[str] = ()
    ) -> T:
        """Runs `command` on the queues `codes` in one transaction, then publishes its events.

        Shielded: a client that hangs up mid-command must not cancel the transaction
        half-way (that leaked pooled connections "idle in transaction"); it completes.
        """
        result, _ = await self._transact_settled(codes, command, extra_ticket_ids)
        return result

    async def _transact_settled(
        self,
        codes: Sequence[str],
        command: Command[T],
        extra_ticket_ids: Sequence[str] = (),
        claim: LiveLine | None = None,
    ) -> tuple[T, Settlement]:
        """`_transact`, with what settling the command gave. With `claim`, the timer's
        re-evaluation of that line: only if no other process did it since it was read."""
        return await asyncio.shield(self._transaction(codes, command, extra_ticket_ids, claim))

    async def _transaction(
        self,
        codes: Sequence[str],
        command: Command[T],
        extra_ticket_ids: Sequence[str],
        claim: LiveLine | None = None,
    ) -> tuple[T, Settlement]:
        now = self.clock()
        events: list[DomainEvent] = []
        async with self.store.transaction(now) as uow:
            if claim is not None and not await uow.claim_reevaluation(
                claim.code, claim.reevaluated_at
            ):
                raise _ReevaluatedElsewhere()
            # Locked in one order, so two commands on the same queues (two opposite
            # transfers) cannot deadlock.
            queues = {
                code: await self._load(uow, code, now, extra_ticket_ids)
                for code in sorted(set(codes))
            }
            for queue in queues.values():
                queue.events = events  # one list: events keep their order across queues
            result = command(queues, now)
            settled = settlement(list(queues.values()), events, now)
            # A re-evaluation that tells nobody anything changes no ticket: nothing to write.
            if claim is None or settled.events:
                await uow.save(queues, settled.events)
        self.service_times.committed(queues, events)
        self.arrival_rates.committed(queues, events)
        messages = [s.event.to_dict() for s in settled.events]
        if messages:
            self._tell_committed(queues, settled, messages, now)
        # Before the first wait: the next command on these queues takes their objects over.
        result = _detached(result)
        if messages:
            await self.bus.publish(messages)
        return result, settled

    def _tell_committed(
        self, queues: dict[str, Queue], settled: Settlement, messages: list[Message], now: datetime
    ) -> None:
        if not self._listeners:
            return
        changed = dict.fromkeys(m["queue"] for m in messages)
        committed = Committed(
            tuple(
                status_of(queues[code], now, settled.estimates.get(code))
                for code in changed
                if code in queues
            ),
            messages,
        )
        for listener in self._listeners:
            try:
                listener(committed)
            except Exception:  # the commit stands whatever a listener does with it
                log.exception("a commit listener failed")


def _detached(result: T) -> T:
    """A command's result with copies of the tickets in it (a ticket, a list of them, or a
    dataclass holding one), which the next command on the queue would otherwise change
    while the caller still reads them."""
    if isinstance(result, Ticket):
        return ticket_copy(result)  # type: ignore[return-value]
    if isinstance(result, list):
        return [_detached(item) for item in result]  # type: ignore[return-value]
    if dataclasses.is_dataclass(result) and not isinstance(result, type | Queue):
        tickets = {
            f.name: ticket_copy(value)
            for f in dataclasses.fields(result)
            if isinstance(value := getattr(result, f.name), Ticket)
        }
        return dataclasses.replace(result, **tickets) if tickets else result
    return result


class _ReevaluatedElsewhere(Exception):
    """Another process re-evaluated the line since it was read: this one rolls back."""


def status_of(
    queue: Queue, now: datetime, estimates: dict[str, eta.Eta] | None = None
) -> QueueStatus:
    """The queue's status at `now`; `estimates` are its forecast at `now` when already made
    (settling a command makes it), else it is made here."""
    waited = [(now - t.joined_at).total_seconds() for t in queue.waiting()]
    avg_wait_s = sum(waited) / len(waited) if waited else 0.0
    if estimates is None:
        estimates = queue.estimates(now)
    return QueueStatus(queue, estimates, queue.service(), avg_wait_s, now)


def new_join_request(**fields: Any) -> JoinRequest:
    """A join request with a fresh ticket id and an unguessable public token."""
    return JoinRequest(ticket_id=str(uuid.uuid4()), token=secrets.token_urlsafe(16), **fields)
