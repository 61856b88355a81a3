"""The queue aggregate: one queue's line and the tickets at its counters.

Each command checks the ticket life cycle, changes tickets in place and appends the events
it caused to `events`; the service layer persists both in one transaction.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.domain import broadcast as broadcasts
from core.domain import eta, load, notify, ordering, overtaking
from core.domain.arrivals import ArrivalRates
from core.domain.errors import (
    CounterBusy,
    IllegalTransition,
    InvalidValue,
    LateLimitReached,
    QueueClosed,
    QueueClosing,
    QueueEmpty,
    QueueFull,
    TicketNotInQueue,
    UnknownCounter,
)
from core.domain.events import (
    DomainEvent,
    EtaRevised,
    LeaveNowAdvised,
    PositionChanged,
    QueuePaused,
    QueueResumed,
    TicketAcknowledged,
    TicketBroadcast,
    TicketCalled,
    TicketCancelled,
    TicketClosed,
    TicketCompleted,
    TicketDelayed,
    TicketEvent,
    TicketJoined,
    TicketMarkedNoShow,
    TicketRated,
    TicketRecalled,
    TicketReturned,
    TicketServiceChosen,
    TicketStarted,
    TicketStateChanged,
    TicketTransferredIn,
    TicketTransferredOut,
    TicketUnreachable,
)
from core.domain.model import (
    AT_COUNTER_STATUSES,
    LIVE_STATUSES,
    MAX_LATE,
    MAX_LATE_S,
    MAX_PAUSE_MESSAGE,
    MAX_PRIORITY,
    MAX_RATING,
    Counter,
    OnClose,
    Pause,
    QueueConfig,
    QueueMode,
    Ticket,
    TicketAction,
    TicketStatus,
    check_priority,
    format_number,
    ticket_copy,
)

W, C, S = TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING
_POSITION = operator.attrgetter("position")
_STATUS = operator.attrgetter("status")
_ID = operator.attrgetter("id")
SURE_SPREADS = 3.0
"""A visit is taken to be sure to be over this many spreads after its expected end, when
keeping the fairness cap (`ordering.CapPlan`)."""
"""Read in C: asked of every ticket of the line several times per command."""
TRANSITIONS: dict[TicketAction, dict[TicketStatus, TicketStatus]] = {
    TicketAction.CALL: {W: C},
    TicketAction.RECALL: {C: C},
    TicketAction.START: {C: S},
    TicketAction.COMPLETE: {C: TicketStatus.DONE, S: TicketStatus.DONE},
    TicketAction.NO_SHOW: {C: TicketStatus.NO_SHOW},
    TicketAction.CANCEL: {W: TicketStatus.CANCELLED},
    TicketAction.RETURN: {C: W, TicketStatus.NO_SHOW: W},
    TicketAction.TRANSFER: {W: W, C: W, S: W},
}
"""action -> {from status: to status}; anything else is an IllegalTransition.

`complete` on a called ticket is what staff mean when the patient came and was seen without
anyone pressing "start": the visit is started and completed at once, both recorded."""


class CounterPlan(enum.Enum):
    """What calling the next patient to a counter does, given who is at it now."""

    FREE = "free"
    """Nobody at the counter: the next patient is called."""
    FINISH_FIRST = "finish_first"
    """The patient at it is being served: that visit is completed, then the next is called."""
    BUSY = "busy"
    """The patient at it was called and has not arrived: refused (`CounterBusy`)."""


@dataclass(frozen=True)
class CounterState:
    plan: CounterPlan
    ticket: Ticket | None = None
    """The patient at the counter that decides the plan (none when it is free)."""


class UnrankedLine(RuntimeError):
    """A programming error: the line was read before `Queue.rank` gave its tickets their
    positions (a queue loaded from storage must be ranked first)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"queue {code}: the waiting line was read before it was ranked")


def next_status(ticket: Ticket, action: TicketAction) -> TicketStatus:
    allowed = TRANSITIONS[action]
    if ticket.status not in allowed:
        raise IllegalTransition(ticket.number, action, ticket.status.value)
    return allowed[ticket.status]


@dataclass(frozen=True)
class Opening:
    """Whether a queue takes patients now (`Queue.opening`)."""

    open: bool
    """In its hours and not paused."""
    in_hours: bool
    opens_at: datetime | None
    """When closed by its hours: when they next open (None: no opening ahead)."""
    closes_at: datetime | None
    """When in its hours: when the open period ends (None: always open)."""
    pause: Pause | None


@dataclass
class JoinRequest:
    ticket_id: str
    token: str
    priority: int = 0
    appointment_at: datetime | None = None
    name: str | None = None
    phone: str | None = None
    telegram_chat_id: int | None = None
    language: str | None = None
    travel_s: int | None = None
    service: str | None = None
    consent: str | None = None
    """How the patient asked to be messaged (`core.domain.consent`); None: not asked."""
    force: bool = False
    """Staff add the patient whatever the hours, a pause or closing time say (a walk-in
    at the counter); the joined event records it. Only staff may (the service checks)."""


def joins_by_priority(stored: Sequence[int]) -> tuple[int, ...]:
    """`Queue.joins_by_priority` from what storage kept: one count per priority, none
    counted as 0."""
    return tuple(stored[p] if p < len(stored) else 0 for p in range(MAX_PRIORITY + 1))


@dataclass
class Queue:
    code: str
    prefix: str
    config: QueueConfig
    counters: dict[str, Counter]
    tickets: dict[str, Ticket] = field(default_factory=dict)
    """The live tickets (waiting, called, serving) and any ticket a command touches."""
    day_seq: int = 0
    day_seq_date: date | None = None
    calls_made: int = 0
    """Every call this queue has made. First come, first served (a higher priority first)
    gives each call to the next patient in that order, so this counts out their turns
    (`Ticket.fifo_call_no`), whoever the calls went to..."""
    joins_by_priority: tuple[int, ...] = (0,) * (MAX_PRIORITY + 1)
    """...less the calls that went to the patients of a higher priority who joined after
    them: every join so far, by priority (`joins_by_priority`)."""
    service_time: eta.ServiceTime | None = None
    service_times_by_kind: dict[str, eta.ServiceTime] = field(default_factory=dict)
    """Learned per kind of visit, set by the service layer with `service_time`."""
    arrival_rates: ArrivalRates = field(default_factory=dict)
    """Learned joins per hour ahead by kind, priority and booking, set with `service_time`:
    under the modes that reorder, the forecast expects the later arrivals who will pass."""
    events: list[DomainEvent] = field(default_factory=list)
    line_moved_by: str | None = None
    """Who changed the waiting line (its order or who is in it) since `settle` last looked:
    settle announces the change once (`LineMoved`) and clears this."""
    time_passed: bool = False
    """Time alone may have made news for the waiting patients (`reevaluate`): settle looks
    at this queue even though no event touched it, then clears this."""
    pause: Pause | None = None
    """Joins stopped by staff (`pause`), until they `resume`."""
    _ranked_line: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """The ticket ids of the line in order as last ranked, to notice a change."""
    touched: set[str] = field(default_factory=set, repr=False, compare=False)
    """The tickets whose stored fields the commands on this object may have changed (every
    event names its ticket; the few changes without an event add theirs): storage writes
    these and passes over the rest of the line, however long it is. Positions are not
    stored, so ranking touches nobody."""

    def snapshot(self) -> Queue:
        """A copy to keep: the commands run on this queue afterwards do not change it (the
        service layer hands a queue's objects on to the next command on it)."""
        kept = copy.copy(self)
        kept.tickets = {ticket_id: ticket_copy(t) for ticket_id, t in self.tickets.items()}
        kept.counters = {name: dataclasses.replace(c) for name, c in self.counters.items()}
        kept.events, kept.touched = [], set()
        return kept

    # -- reading ---------------------------------------------------------------------------

    def waiting(self) -> list[Ticket]:
        """The line in serving order. Positions are derived, never stored: a queue loaded
        from storage is ranked (`rank`) before anything reads its line."""
        line = [t for t in self.tickets.values() if t.status is W]
        if any(t.position is None for t in line):
            raise UnrankedLine(self.code)
        return sorted(line, key=_POSITION)

    def at_counters(self) -> list[Ticket]:
        return [t for t in self.tickets.values() if t.status in AT_COUNTER_STATUSES]

    def size(self) -> int:
        return list(map(_STATUS, self.tickets.values())).count(W)

    def load_factor(self) -> float:
        return self._load_factor_of(self.size())

    def _load_factor_of(self, size: int) -> float:
        """`load_factor` with `size` patients waiting."""
        return load.load_factor(load.utilisation(size, self.config.capacity))

    def open_counters(self) -> int:
        return sum(1 for c in self.counters.values() if c.is_open)

    def service(self) -> eta.ServiceTime:
        """The learned service time the service layer set, or the configured default."""
        return self.service_time or eta.configured(self.config.default_service_s)

    def expected_service(self, ticket: Ticket) -> eta.ServiceTime:
        """What this ticket's visit is expected to take: learned for its kind of visit, else
        configured for it, else the queue's figure over every visit."""
        return self._expected_service_of(ticket.service)

    def _expected_service_of(self, kind: str | None) -> eta.ServiceTime:
        """`expected_service` of a ticket for this kind of visit (none given)."""
        if kind is None:
            return self.service()
        learned = self.service_times_by_kind.get(kind)
        if learned is not None:
            return learned
        configured_s = self.config.service_times_s.get(kind)
        if configured_s is None:
            return self.service()
        return eta.configured(configured_s)

    def estimates(self, now: datetime) -> dict[str, eta.Eta]:
        """ETA range of every waiting ticket, by ticket id."""
        return self._estimates(self.waiting(), now)

    def _estimates(self, line: list[Ticket], now: datetime) -> dict[str, eta.Eta]:
        """`estimates` of the line as `waiting` gave it."""
        open_counters = self.open_counters()
        forecast = eta.forecast(
            self._expected_services(line),
            self._visits_in_progress(now),
            open_counters,
            self._load_factor_of(len(line)),  # the line as `waiting` gave it: its size
            self._passed_by(line, now, open_counters),
            counters_when_closed=len(self.counters),
        )
        return {t.id: estimate for t, estimate in zip(line, forecast, strict=True)}

    def opening(self, now: datetime) -> Opening:
        """Whether the queue takes patients at `now`, and when that changes."""
        schedule = self.config.schedule()
        in_hours = schedule.is_open(now)
        return Opening(
            open=in_hours and self.pause is None,
            in_hours=in_hours,
            opens_at=None if in_hours else schedule.opens_at(now),
            closes_at=schedule.closes_at(now) if in_hours else None,
            pause=self.pause,
        )

    def joiner_eta(self, now: datetime, extra_counters: int = 0) -> eta.Eta:
        """The wait of someone joining now, at the end of the line (a routine visit of the
        queue's usual length), with `extra_counters` more counters open: the same forecast
        the patients are told, so staff read the figures their patients read."""
        line = self.waiting()
        services = [*self._expected_services(line), self.service()]
        counters = self.open_counters() + extra_counters
        joiner = Ticket(
            id="",
            queue=self.code,
            number="",
            seq=0,
            token="",
            joined_at=now,
            line_at=now,
            fifo_call_at=now,
        )
        forecast = eta.forecast(
            services,
            self._visits_in_progress(now),
            counters,
            self.load_factor(),
            self._passed_by([*line, joiner], now, counters),
            counters_when_closed=len(self.counters),
        )
        return forecast[-1]

    def live_ticket_of(self, telegram_chat_id: int | None, phone: str | None) -> Ticket | None:
        """The patient's ticket still in this queue, if any: one per patient and queue."""
        for ticket in self.tickets.values():
            if ticket.status not in LIVE_STATUSES:
                continue
            if telegram_chat_id is not None and ticket.telegram_chat_id == telegram_chat_id:
                return ticket
            if phone and ticket.phone == phone:
                return ticket
        return None

    def counter_state(self, counter: str) -> CounterState:
        """Whether "call next" to `counter` calls at once, finishes a visit first, or is
        refused: one patient at a counter at a time, so the display never sends two there.

        A called patient who has not arrived holds the counter (staff mark them no-show or
        return them first); a patient being served is finished by the next call."""
        self._check_counter(counter)
        here = sorted(
            (t for t in self.at_counters() if t.counter == counter),
            key=lambda t: (t.called_at or t.joined_at, t.number),
        )
        called = [t for t in here if t.status is C]
        if called:
            return CounterState(CounterPlan.BUSY, called[0])
        if here:
            return CounterState(CounterPlan.FINISH_FIRST, here[-1])
        return CounterState(CounterPlan.FREE)

    def ticket(self, ticket_id: str) -> Ticket:
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise TicketNotInQueue(self.code, ticket_id) from None

    # -- commands --------------------------------------------------------------------------

    def join(
        self, request: JoinRequest, now: datetime, actor: str, overflowed_from: str | None = None
    ) -> Ticket:
        check_priority(request.priority)
        self._check_service(request.service)
        opening = self.opening(now)
        if not opening.open and not request.force:
            raise QueueClosed(
                self.code,
                opening.opens_at if opening.pause is None else None,
                paused=opening.pause is not None,
                pause_message=opening.pause.message if opening.pause else None,
            )
        capacity = self.config.capacity
        if capacity is not None and self.size() >= capacity:
            raise QueueFull(self.code, capacity, self.config.overflow_queue)
        seq = self._next_seq(now)
        ticket = Ticket(
            id=request.ticket_id,
            queue=self.code,
            number=format_number(self.prefix, seq),
            seq=seq,
            token=request.token,
            joined_at=now,
            line_at=now,
            priority=request.priority,
            appointment_at=request.appointment_at,
            name=request.name,
            phone=request.phone,
            telegram_chat_id=request.telegram_chat_id,
            language=request.language,
            service=request.service,
        )
        self.tickets[ticket.id] = ticket
        if self.config.mode is QueueMode.SHORT_FIRST:
            self._set_fifo_call_at(ticket, now)
        self._reorder(now, actor)
        if opening.closes_at is not None and not request.force:
            self._keep_promise(ticket, opening.closes_at, now)
        joins = list(self.joins_by_priority)
        joins[ticket.priority] += 1
        self.joins_by_priority = tuple(joins)
        self._record(
            TicketJoined,
            ticket,
            now,
            actor,
            None,
            position=ticket.position or 0,
            priority=ticket.priority,
            overflowed_from=overflowed_from,
            consent=request.consent if notify.reachable(ticket) else None,
            forced=request.force,
        )
        return ticket

    def _keep_promise(self, ticket: Ticket, closes_at: datetime, now: datetime) -> None:
        """Refuses the join just made (`QueueClosing`, taking the ticket back out) when
        its forecast call time is after `closes_at`. The call time is `eta_s`, the middle
        of the range the patient is told, not its upper end: the upper end is pessimistic
        on purpose (it is what "up to" promises), and refusing by it would turn patients
        away while the day most likely still has room for them; `eta_s` is the forecast
        the line is planned on."""
        if not self.config.refuse_past_closing:
            return
        estimate = self.estimates(now)[ticket.id]
        if now + timedelta(seconds=estimate.eta_s) <= closes_at:
            return
        del self.tickets[ticket.id]
        self.day_seq -= 1
        self.rank(now)
        raise QueueClosing(self.code, closes_at, self.config.schedule().opens_at(now))

    def close_remaining(self, now: datetime, actor: str = "system:close") -> list[Ticket]:
        """Closing time with `on_close: close_remaining`: every waiting patient who joined
        while the queue was open, and whose open period has ended by `now`, is told and
        their ticket ends `closed`. A walk-in staff forced in while closed is left in line
        (it joined outside any open period), and so is everyone while the period lasts.
        Run again, it finds nobody left to close."""
        if self.config.on_close is not OnClose.CLOSE_REMAINING:
            return []
        schedule = self.config.schedule()
        if schedule.always_open() or schedule.is_open(now):
            return []
        closed = []
        for ticket in self.waiting():
            if not schedule.is_open(ticket.joined_at):
                continue
            period_end = schedule.closes_at(ticket.joined_at)
            if period_end is None or period_end > now:
                continue
            ticket.status, ticket.position, ticket.finished_at = TicketStatus.CLOSED, None, now
            self._record(TicketClosed, ticket, now, actor, W)
            closed.append(ticket)
        if closed:
            self._reorder(now, actor)
        return closed

    def pause_joins(self, message: str | None, now: datetime, actor: str) -> Pause:
        """Stops joins at once until `resume_joins`; pausing again replaces the message."""
        message = (message or "").strip() or None
        if message is not None and len(message) > MAX_PAUSE_MESSAGE:
            raise InvalidValue(f"a pause message has at most {MAX_PAUSE_MESSAGE} characters")
        self.pause = Pause(now, actor, message)
        self.events.append(QueuePaused(queue=self.code, at=now, actor=actor, message=message))
        return self.pause

    def resume_joins(self, now: datetime, actor: str) -> None:
        """Lets joins in again; resuming a queue that is not paused changes nothing."""
        if self.pause is None:
            return
        self.pause = None
        self.events.append(QueueResumed(queue=self.code, at=now, actor=actor))

    def call_next(self, counter: str, now: datetime, actor: str) -> Ticket:
        """Calls the first in line to `counter`, finishing the visit being served there
        first; refused while a patient called there has not arrived (`counter_state`)."""
        self._check_counter(counter)
        self._reorder(now, actor)
        line = self.waiting()
        if not line:
            raise QueueEmpty(self.code)
        state = self.counter_state(counter)
        if state.plan is CounterPlan.BUSY:
            assert state.ticket is not None
            raise CounterBusy(self.code, counter, state.ticket.number, state.ticket.id)
        for ticket in self.at_counters():
            if ticket.counter == counter:  # all being served (a busy counter was refused)
                self.complete(ticket.id, now, actor)
        # The line was ranked at `now` just above and finishing a visit changes no key of
        # the ranking: the ones left keep their order, so they are not sorted again.
        return self._call(line[0], counter, now, actor, rest_ranked=line[1:])

    def call(self, ticket_id: str, counter: str, now: datetime, actor: str) -> Ticket:
        self._check_counter(counter)
        return self._call(self.ticket(ticket_id), counter, now, actor, rest_ranked=None)

    def _call(
        self,
        ticket: Ticket,
        counter: str,
        now: datetime,
        actor: str,
        rest_ranked: list[Ticket] | None,
    ) -> Ticket:
        """`call`; `rest_ranked`, when given, is the rest of the line as ranked at `now`,
        else the line is ranked again."""
        to = next_status(ticket, TicketAction.CALL)
        position = ticket.position or 0  # where it stood in line when called: for the audit
        self.counters[counter].is_open = True
        ticket.status, ticket.counter, ticket.called_at = to, counter, now
        ticket.position, ticket.acknowledged_at, ticket.unreachable_at = None, None, None
        self._record(TicketCalled, ticket, now, actor, W, counter=counter, position=position)
        self._count_call(now)
        if rest_ranked is None:
            self._reorder(now, actor)
        else:
            self._take_order(rest_ranked, actor)
        return ticket

    def recall(self, ticket_id: str, now: datetime, actor: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        next_status(ticket, TicketAction.RECALL)
        ticket.recall_count += 1
        ticket.recalled_at, ticket.unreachable_at = now, None
        self._record(
            TicketRecalled,
            ticket,
            now,
            actor,
            C,
            counter=ticket.counter or "",
            recall_count=ticket.recall_count,
        )
        return ticket

    def start(self, ticket_id: str, now: datetime, actor: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        ticket.status = next_status(ticket, TicketAction.START)
        ticket.started_at = now
        self._record(TicketStarted, ticket, now, actor, C, counter=ticket.counter or "")
        return ticket

    def complete(self, ticket_id: str, now: datetime, actor: str) -> Ticket:
        """Finishes a visit; a called ticket is started first (two events, one actor)."""
        ticket = self.ticket(ticket_id)
        to = next_status(ticket, TicketAction.COMPLETE)
        if ticket.status is C:
            self.start(ticket_id, now, actor)
        ticket.status = to
        ticket.finished_at = now
        called_at = ticket.called_at or now
        self._record(
            TicketCompleted,
            ticket,
            now,
            actor,
            S,
            counter=ticket.counter or "",
            wait_s=(called_at - ticket.joined_at).total_seconds(),
            service_s=(now - called_at).total_seconds(),
        )
        return ticket

    def mark_no_show(self, ticket_id: str, now: datetime, actor: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        ticket.status = next_status(ticket, TicketAction.NO_SHOW)
        ticket.finished_at = now
        self._record(TicketMarkedNoShow, ticket, now, actor, C, counter=ticket.counter or "")
        return ticket

    def cancel(self, ticket_id: str, now: datetime, actor: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        ticket.status = next_status(ticket, TicketAction.CANCEL)
        ticket.position, ticket.finished_at = None, now
        self._record(TicketCancelled, ticket, now, actor, W)
        self._reorder(now, actor)
        return ticket

    def return_to_line(self, ticket_id: str, now: datetime, actor: str) -> Ticket:
        """Back into the waiting line at the place its original join time gives it."""
        ticket = self.ticket(ticket_id)
        before = ticket.status
        ticket.status = next_status(ticket, TicketAction.RETURN)
        ticket.counter = ticket.called_at = ticket.recalled_at = None
        ticket.started_at = ticket.finished_at = ticket.acknowledged_at = None
        ticket.unreachable_at = None
        if self.config.mode is QueueMode.SHORT_FIRST:
            # Called once already: the fairness cap is owed again from their return, not
            # from a turn long past (it would put them before everyone whose cap runs out).
            ticket.fifo_call_at, ticket.fifo_call_no = now, None
        self._reorder(now, actor)
        self._record(TicketReturned, ticket, now, actor, before, position=ticket.position or 0)
        return ticket

    def expire_called(self, now: datetime, actor: str = "system") -> list[Ticket]:
        """Called tickets nobody started within the grace period become no-shows."""
        grace_s = self.config.no_show_grace_s
        if grace_s == 0:
            return []

        def overdue(t: Ticket) -> bool:
            last_call = t.recalled_at or t.called_at
            return last_call is not None and (now - last_call).total_seconds() >= grace_s

        expired = [t for t in self.at_counters() if t.status is C and overdue(t)]
        return [self.mark_no_show(t.id, now, actor) for t in expired]

    def transfer_out(self, ticket_id: str, to_queue: str, now: datetime, actor: str) -> Ticket:
        if to_queue == self.code:
            raise InvalidValue("a ticket cannot be transferred to its own queue")
        ticket = self.ticket(ticket_id)
        before = ticket.status
        ticket.status = next_status(ticket, TicketAction.TRANSFER)
        del self.tickets[ticket.id]
        self._record(TicketTransferredOut, ticket, now, actor, before, to_queue=to_queue)
        self._reorder(now, actor)
        return ticket

    def accept_transfer(self, ticket: Ticket, from_queue: str, now: datetime, actor: str) -> Ticket:
        """Takes a ticket from another queue; it keeps its number and its original join time."""
        capacity = self.config.capacity
        if capacity is not None and self.size() >= capacity:
            raise QueueFull(self.code, capacity, self.config.overflow_queue)
        ticket.queue = self.code
        ticket.status = W
        ticket.counter = ticket.called_at = ticket.recalled_at = None
        ticket.started_at = ticket.finished_at = ticket.acknowledged_at = None
        ticket.position = ticket.unreachable_at = None
        ticket.fifo_call_no = None  # a turn counted by the other queue's calls
        self.tickets[ticket.id] = ticket
        self._reorder(now, actor)
        self._record(
            TicketTransferredIn,
            ticket,
            now,
            actor,
            W,
            from_queue=from_queue,
            position=ticket.position or 0,
        )
        return ticket

    def delay(self, ticket_id: str, delay_s: int, now: datetime, actor: str) -> Ticket:
        """ "I'm running late": move back by about as many places as `delay_s` of service.

        The ticket takes a place in line just behind the patient it should now follow, so
        it keeps that place when the line is reordered later.
        """
        ticket = self.ticket(ticket_id)
        if ticket.status is not W:
            raise IllegalTransition(ticket.number, "late", ticket.status.value)
        if ticket.late_count >= MAX_LATE:
            raise LateLimitReached(MAX_LATE)
        if not 0 < delay_s <= MAX_LATE_S:
            raise InvalidValue(f"late must be between 1 and {MAX_LATE_S // 60} minutes")
        per_place_s = self.service().mean_s / max(1, self.open_counters())
        places = max(1, round(delay_s / per_place_s))
        line = self.waiting()
        old_position = ticket.position or len(line)
        follow = line[min(len(line), old_position + places) - 1]
        if follow is not ticket:
            ticket.line_at = max(ticket.line_at, follow.line_at) + timedelta(microseconds=1)
        ticket.late_count += 1
        self._reorder(now, actor)
        self._emit(
            TicketDelayed,
            ticket,
            now,
            actor,
            delay_s=delay_s,
            late_count=ticket.late_count,
            old_position=old_position,
            new_position=ticket.position or 0,
        )
        return ticket

    def set_travel_time(self, ticket_id: str, travel_s: int) -> Ticket:
        """How long the patient needs to come back; "leave now" is sent when the wait is that."""
        ticket = self.ticket(ticket_id)
        if ticket.status is not W:
            raise IllegalTransition(ticket.number, "travel", ticket.status.value)
        if not 0 < travel_s <= MAX_LATE_S:
            raise InvalidValue(f"travel time must be between 1 and {MAX_LATE_S // 60} minutes")
        ticket.travel_s, ticket.leave_now_sent = travel_s, False
        self.touched.add(ticket.id)
        return ticket

    def choose_service(
        self, ticket_id: str, service: str | None, now: datetime, actor: str
    ) -> Ticket:
        """The patient's kind of visit, one the queue offers, or None ("not sure"), while
        they wait. The line is ranked again with their new expected time; choosing what is
        already chosen changes nothing."""
        ticket = self.ticket(ticket_id)
        if ticket.status is not W:
            raise IllegalTransition(ticket.number, "set the kind of visit of", ticket.status.value)
        self._check_service(service)
        if service == ticket.service:
            return ticket
        previous, old_position = ticket.service, ticket.position or 0
        ticket.service = service
        self._reorder(now, actor)
        self._emit(
            TicketServiceChosen,
            ticket,
            now,
            actor,
            service=service,
            previous_service=previous,
            old_position=old_position,
            new_position=ticket.position or 0,
        )
        return ticket

    def set_phone(self, ticket_id: str, phone: str | None) -> Ticket:
        """The number a call the patient missed on their channel is texted to (E.164, read by
        the caller); None forgets it. Only for a visit still going on."""
        ticket = self.ticket(ticket_id)
        if ticket.status not in LIVE_STATUSES:
            raise IllegalTransition(ticket.number, "phone", ticket.status.value)
        ticket.phone = phone
        self.touched.add(ticket.id)
        return ticket

    def broadcast(
        self, text: str, audience: broadcasts.Audience, now: datetime, actor: str
    ) -> list[Ticket]:
        """Staff's message to the line: an event for each addressed patient who can be
        messaged (settling turns each into a `broadcast` notification on their channel).
        Returns those tickets; nobody's place or state changes."""
        text = broadcasts.checked_text(text)
        reached = [
            t for t in broadcasts.addressed(self.tickets.values(), audience) if notify.reachable(t)
        ]
        for ticket in reached:
            self._emit(TicketBroadcast, ticket, now, actor, text=text, audience=audience.value)
        return reached

    def acknowledge(self, ticket_id: str, now: datetime, actor: str) -> Ticket:
        """The patient pressed "I'm on my way"; pressing it again changes nothing."""
        ticket = self.ticket(ticket_id)
        if ticket.status is not C:
            raise IllegalTransition(ticket.number, "acknowledge", ticket.status.value)
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at, ticket.unreachable_at = now, None
            self._emit(TicketAcknowledged, ticket, now, actor, counter=ticket.counter or "")
        return ticket

    def mark_unreachable(
        self, ticket_id: str, call_at: datetime, now: datetime, actor: str = "system"
    ) -> bool:
        """The call ladder of the call made at `call_at` ran out. False, changing nothing,
        when that call is over (answered, ended, called again) or already marked: several
        dispatchers may decide it at once."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None or ticket.status is not C or ticket.unreachable_at is not None:
            return False
        last_call = ticket.recalled_at or ticket.called_at
        if last_call is None or last_call > call_at:
            return False
        if ticket.acknowledged_at is not None and ticket.acknowledged_at >= last_call:
            return False
        ticket.unreachable_at = now
        self._emit(TicketUnreachable, ticket, now, actor, counter=ticket.counter or "")
        return True

    def rate(self, ticket_id: str, score: int, now: datetime, actor: str) -> Ticket:
        """Feedback after the visit, 1 to 5; a second rating replaces the first."""
        ticket = self.ticket(ticket_id)
        if ticket.status is not TicketStatus.DONE:
            raise IllegalTransition(ticket.number, "rate", ticket.status.value)
        if not 1 <= score <= MAX_RATING:
            raise InvalidValue(f"a rating is between 1 and {MAX_RATING}")
        ticket.rating = score
        self._emit(TicketRated, ticket, now, actor, score=score)
        return ticket

    def settle_waiting(self, now: datetime, actor: str = "system") -> dict[str, eta.Eta]:
        """After a command: "getting close" (`_tell_close`), then `advise`, over one reading
        of the line (telling a place changes nobody's place). Returns the estimates advising
        used."""
        line = self.waiting()
        told = self._told_in_this_command()
        told |= self._tell_close(line, told, now, actor)
        return self._advise_line(line, told, now, actor)

    def advise(self, now: datetime, actor: str = "system") -> dict[str, eta.Eta]:
        """After a command: "leave now" and "ETA changed" for the waiting patients due one.

        Records what each patient was last told, so the next change is measured from it.
        Returns the estimates it used.
        """
        return self._advise_line(self.waiting(), self._told_in_this_command(), now, actor)

    def _advise_line(
        self, line: list[Ticket], told: set[str], now: datetime, actor: str
    ) -> dict[str, eta.Eta]:
        """`advise` of the line as `waiting` gave it, `told` being the tickets this command
        already tells their wait."""
        estimates = self._estimates(line, now)  # one ordered pass over the tickets for both
        for ticket in line:
            if not notify.reachable(ticket):
                continue
            estimate = estimates[ticket.id]
            kind = (
                None if ticket.id in told else notify.eta_notice(ticket, estimate, now, self.config)
            )
            if kind is notify.MessageKind.LEAVE_NOW:
                ticket.leave_now_sent = True
                self._advise(
                    LeaveNowAdvised, ticket, estimate, now, actor, travel_s=ticket.travel_s
                )
            elif kind is notify.MessageKind.ETA_CHANGED:
                self._advise(
                    EtaRevised,
                    ticket,
                    estimate,
                    now,
                    actor,
                    previous_eta_s=ticket.announced_eta_s,
                )
            if kind is not None or ticket.id in told:
                ticket.announced_eta_s, ticket.announced_at = estimate.eta_s, now
                ticket.told_position = ticket.position
        return estimates

    def _tell_close(
        self, line: list[Ticket], told: set[str], now: datetime, actor: str
    ) -> set[str]:
        """After a command: "getting close" for the patients who have just reached one of
        the queue's `notify_positions` nearer than the place they were last told; returns
        the tickets it told.

        Only the first max(notify_positions) places of `line` (as `waiting` gave it) are
        looked at, so the cost does not grow with the line. A patient told their place by
        this very command (a join, a return: in `told`) is not told again."""
        close: set[str] = set()
        if not self.config.notify_positions:
            return close
        for ticket in line[: max(self.config.notify_positions)]:
            if ticket.id in told or not notify.reachable(ticket):
                continue
            if notify.is_getting_close(ticket, self.config):
                self._emit(
                    PositionChanged,
                    ticket,
                    now,
                    actor,
                    old_position=ticket.told_position,
                    new_position=ticket.position or 0,
                )
                ticket.told_position = ticket.position
                close.add(ticket.id)
        return close

    def rank(self, now: datetime) -> None:
        """Gives every waiting ticket its position at `now`, by the queue's ordering policy.

        Storage keeps no positions: a loaded queue is ranked once, with its learned service
        times set (short visits first needs them), before its line is read."""
        line = [t for t in self.tickets.values() if t.status is W]
        ranked = ordering.rank(
            line,
            now,
            self.config,
            lambda t: self.expected_service(t).mean_s,
            self._cap_plan(now),
        )
        self._number(ranked)

    def _number(self, ranked: list[Ticket]) -> None:
        """Gives the waiting tickets, in serving order, their positions."""
        for index, ticket in enumerate(ranked, start=1):
            ticket.position = index
        self._ranked_line = tuple(map(_ID, ranked))

    def reposition(self, now: datetime, actor: str) -> int:
        """Ranks the line now and has it announced (`LineMoved`), so the patients who have
        come close with time alone are told and every page shows the order; returns how
        many are waiting."""
        self._reorder(now, actor)
        self.line_moved_by = actor
        return self.size()

    def reevaluate(self, now: datetime, since: datetime | None, actor: str) -> None:
        """Time has passed on a quiet line: has it settled as after a command, so "ETA
        changed", "leave now" and "getting close" reach the patients they have become due
        to, and the line is announced (`LineMoved`) when its order at `now` is not the one
        it had at `since`, when it was last looked at (dynamic weights, short-first's
        "due"). The queue is ranked at `now` already, as every loaded queue is; a FIFO line
        keeps its order whatever the time, so it is not ranked again."""
        self.time_passed = True
        if since is None or self.config.mode is QueueMode.FIFO:
            return
        line = [t for t in self.tickets.values() if t.status is W]
        before = ordering.rank(
            line,
            since,
            self.config,
            lambda t: self.expected_service(t).mean_s,
            self._cap_plan(since),
        )
        if tuple(t.id for t in before) != self._ranked_line:
            self.line_moved_by = actor

    # -- internals -------------------------------------------------------------------------

    def _visits_in_progress(self, now: datetime) -> list[eta.AtCounter]:
        """The visits at open counters; a ticket at a closed one holds up no open counter."""
        open_names = {c.name for c in self.counters.values() if c.is_open}
        return [
            eta.AtCounter(
                self.expected_service(t),
                (now - t.called_at).total_seconds() if t.called_at else 0.0,
            )
            for t in self.at_counters()
            if t.counter in open_names
        ]

    def _due_lead_s(self, now: datetime) -> float:
        """How long before its fairness cap runs out a ticket is expected to go first in
        `short_first`, for the forecast (`ordering.cap_runs_out` decides): when the first
        counter is sure to free up. 0 in the other modes."""
        if self.config.mode is not QueueMode.SHORT_FIRST:
            return 0.0
        return min(self._counters_free_s(now))

    def _cap_plan(self, now: datetime) -> ordering.CapPlan:
        """`ordering.CapPlan` of the counters open at `now` (none under the other modes)."""
        if self.config.mode is not QueueMode.SHORT_FIRST:
            return ordering.NO_CAP_PLAN
        sure_of_kind: dict[str | None, float] = {}

        def sure_visit_s(ticket: Ticket) -> float:
            sure_s = sure_of_kind.get(ticket.service)
            if sure_s is None:
                expected = self.expected_service(ticket)
                sure_s = sure_of_kind[ticket.service] = (
                    expected.mean_s + SURE_SPREADS * expected.sd_s
                )
            return sure_s

        next_turn_no = [calls + 1 for calls in self._fifo_calls_by_priority()]
        return ordering.CapPlan(next_turn_no, lambda: self._counters_free_s(now), sure_visit_s)

    def _counters_free_s(self, now: datetime) -> list[float]:
        """`ordering.CapPlan.counters_free_s` at `now`."""
        counters = max(1, self.open_counters())
        free_s = sorted(
            eta.residual_s(v.service, v.elapsed_s) + SURE_SPREADS * v.service.sd_s
            for v in self._visits_in_progress(now)
        )[:counters]
        usual = self.service()
        return free_s + [usual.mean_s + SURE_SPREADS * usual.sd_s] * (counters - len(free_s))

    def _passed_by(
        self, line: list[Ticket], now: datetime, counters: int
    ) -> list[overtaking.Passing] | None:
        """Who is expected to pass each ticket of the line (None under FIFO). With every
        counter closed (a lunch break) the ones who pass will share the counters that
        reopen, not one: all the queue has are counted."""
        return overtaking.passed_by(
            line,
            now,
            self.config,
            self.arrival_rates,
            self._expected_service_of,
            counters if counters > 0 else len(self.counters),
            self._due_lead_s(now),
            self._turn_at(now, counters),
        )

    def _turn_at(self, now: datetime, counters: int) -> Callable[[Ticket], datetime]:
        """When first come, first served makes its call to a ticket (`Ticket.fifo_call_no`):
        when it did, or, counting the calls still to come, one per usual visit shared by the
        open counters."""
        per_call_s = self.service().mean_s / max(1, counters)
        fifo_calls = self._fifo_calls_by_priority()

        def turn_at(ticket: Ticket) -> datetime:
            if ticket.fifo_call_no is None:
                return ticket.fifo_call_at or ticket.line_at
            calls_left = ticket.fifo_call_no - fifo_calls[ticket.priority] - 1
            return now + timedelta(seconds=max(0, calls_left) * per_call_s)

        return turn_at

    def _expected_services(self, tickets: list[Ticket]) -> list[eta.ServiceTime]:
        """`expected_service` of each ticket, worked out once per kind of visit rather than
        once per ticket: the whole line's is needed after every command."""
        by_kind = {kind: self._expected_service_of(kind) for kind in {t.service for t in tickets}}
        return [by_kind[t.service] for t in tickets]

    def _count_call(self, now: datetime) -> None:
        """Counts a call: the waiting patients whose turn first come, first served it was
        (`Ticket.fifo_call_no`) note that it came now. Counted in every mode, so that a
        queue switched to short visits first counts from the calls really made; only that
        mode numbers the turns (a FIFO line of 800 is not gone through on every call)."""
        self.calls_made += 1
        if self.config.mode is not QueueMode.SHORT_FIRST:
            return
        fifo_calls = self._fifo_calls_by_priority()
        for ticket in self.tickets.values():
            turn_no = ticket.fifo_call_no
            if (
                turn_no is not None
                and ticket.status is W
                and fifo_calls[ticket.priority] >= turn_no
            ):
                ticket.fifo_call_at, ticket.fifo_call_no = now, None
                self.touched.add(ticket.id)

    def _fifo_calls_by_priority(self) -> list[int]:
        """By priority, the calls made so far that count out its turns (`Ticket.fifo_call_no`):
        every call, less one per patient of a higher priority who has joined (summed in one
        pass: it is asked for on every ranking in `short_first`)."""
        calls, above = [], 0
        for joined in reversed(self.joins_by_priority):
            calls.append(self.calls_made - above)
            above += joined
        return calls[::-1]

    def _set_fifo_call_at(self, ticket: Ticket, now: datetime) -> None:
        """Which call first come, first served (a higher priority first) makes to `ticket`,
        and when the line as it stands, served that way, is expected to reach it."""
        place = (-ticket.priority, ticket.line_at, ticket.seq)
        ahead = [
            t
            for t in self.tickets.values()
            if t.status is W and t is not ticket and (-t.priority, t.line_at, t.seq) < place
        ]
        services = self._expected_services([*ahead, ticket])
        wait = eta.forecast(
            services,
            self._visits_in_progress(now),
            self.open_counters(),
            1.0,
            counters_when_closed=len(self.counters),
        )[-1]
        ticket.fifo_call_at = now + timedelta(seconds=wait.eta_s)
        ticket.fifo_call_no = self._fifo_calls_by_priority()[ticket.priority] + len(ahead) + 1

    def _check_service(self, service: str | None) -> None:
        offered = self.config.service_times_s
        if service is not None and service not in offered:
            kinds = ", ".join(sorted(offered)) or "none (leave it out)"
            raise InvalidValue(f"unknown kind of visit {service!r}; this queue offers: {kinds}")

    def _check_counter(self, counter: str) -> None:
        if counter not in self.counters:
            raise UnknownCounter(self.code, counter)

    def _next_seq(self, now: datetime) -> int:
        today = now.astimezone(ZoneInfo(self.config.timezone)).date()
        if self.day_seq_date != today:
            self.day_seq_date, self.day_seq = today, 0
        self.day_seq += 1
        return self.day_seq

    def _reorder(self, now: datetime, actor: str) -> None:
        """Ranks the line again after a command changed it, noting whether its order or its
        members changed: one `LineMoved` for the command, not one event per ticket."""
        before = self._ranked_line
        self.rank(now)
        if self._ranked_line != before:
            self.line_moved_by = actor

    def _take_order(self, ranked: list[Ticket], actor: str) -> None:
        """`_reorder` when the line's new order is known without ranking it again."""
        before = self._ranked_line
        self._number(ranked)
        if self._ranked_line != before:
            self.line_moved_by = actor

    def _told_in_this_command(self) -> set[str]:
        """The tickets of this queue whose patient this command already tells their wait."""
        return {
            e.ticket_id
            for e in self.events
            if e.queue == self.code and isinstance(e, TicketEvent) and notify.tells_eta(e)
        }

    def _advise(
        self,
        event_type: type[EtaRevised | LeaveNowAdvised],
        ticket: Ticket,
        estimate: eta.Eta,
        now: datetime,
        actor: str,
        **extra: object,
    ) -> None:
        self._emit(
            event_type,
            ticket,
            now,
            actor,
            position=ticket.position or 0,
            eta_s=estimate.eta_s,
            eta_low_s=estimate.low_s,
            eta_high_s=estimate.high_s,
            **extra,
        )

    def _record(
        self,
        event_type: type[TicketStateChanged],
        ticket: Ticket,
        now: datetime,
        actor: str,
        from_status: TicketStatus | None,
        **extra: object,
    ) -> None:
        self._emit(
            event_type,
            ticket,
            now,
            actor,
            from_status=from_status,
            to_status=ticket.status,
            **extra,
        )

    def _emit(
        self,
        event_type: type[TicketEvent],
        ticket: Ticket,
        now: datetime,
        actor: str,
        **fields: object,
    ) -> None:
        """Appends an event about `ticket`; the fields every ticket event carries are set here."""
        self.touched.add(ticket.id)
        self.events.append(
            event_type(
                queue=self.code,
                at=now,
                actor=actor,
                ticket_id=ticket.id,
                number=ticket.number,
                **fields,
            )
        )
