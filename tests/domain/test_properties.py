"""Property-based tests: random operation sequences against the queue's invariants."""

from __future__ import annotations

import itertools
from collections import Counter as Tally
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from core.domain.errors import (
    CounterBusy,
    IllegalTransition,
    QueueEmpty,
    QueueFull,
    UnknownCounter,
)
from core.domain.eta import AtCounter, ServiceSample, ServiceTime, forecast, learn_service_time
from core.domain.events import LineMoved, TicketStateChanged
from core.domain.load import load_factor
from core.domain.model import Counter, QueueConfig, QueueMode, Ticket, TicketStatus, Weights
from core.domain.ordering import appointment_score, dynamic_score, rank, wait_time_score
from core.domain.queue import JoinRequest, Queue
from core.domain.settle import settle

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
W, C, S = TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING
DONE, CANCELLED, NO_SHOW = TicketStatus.DONE, TicketStatus.CANCELLED, TicketStatus.NO_SHOW

# The contract's life cycle, written out independently of queue.TRANSITIONS.
LEGAL: dict[tuple[str, TicketStatus], TicketStatus] = {
    ("call", W): C,
    ("recall", C): C,
    ("start", C): S,
    ("complete", S): DONE,
    ("complete", C): DONE,
    ("no-show", C): NO_SHOW,
    ("cancel", W): CANCELLED,
    ("return", C): W,
    ("return", NO_SHOW): W,
}

STATEFUL = settings(max_examples=100, stateful_step_count=40, deadline=None)
PLAIN = settings(max_examples=200, deadline=None)

weights_st = (
    st.tuples(
        st.sampled_from([0.0, 0.2, 0.5, 1.0]),
        st.sampled_from([0.0, 0.3, 1.0]),
        st.sampled_from([0.0, 0.2, 1.0]),
    )
    .filter(lambda w: sum(w) > 0)
    .map(lambda w: Weights(*w))
)
step_s = st.sampled_from([0, 0, 1, 30, 300, 600, 1200, 4 * 3600])
appointment_offset_s = st.one_of(st.none(), st.sampled_from([-900, 0, 600, 1500, 7200]))


class QueueMachine(RuleBasedStateMachine):
    """Drives one queue with random commands; a shadow model holds what the contract expects."""

    mode = QueueMode.FIFO
    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.q: Queue | None = None
        self.expected: dict[str, TicketStatus] = {}
        self.handed_out: set[str] = set()
        self.previous_line: list[str] = []
        self.last_look: datetime | None = None
        """When the timer last re-evaluated the line (`time_passes`)."""
        self.serial = itertools.count(1)

    @property
    def queue(self) -> Queue:
        assert self.q is not None
        return self.q

    @initialize(
        capacity=st.one_of(st.none(), st.integers(1, 6)),
        weights=weights_st,
        grace_s=st.sampled_from([0, 300]),
        tz=st.sampled_from(["UTC", "Europe/Madrid"]),
        # some runs start shortly before midnight in Madrid (23:00 UTC) or in UTC
        start=st.sampled_from([T0, T0.replace(hour=22, minute=45), T0.replace(hour=23, minute=50)]),
    )
    def setup(
        self, capacity: int | None, weights: Weights, grace_s: int, tz: str, start: datetime
    ) -> None:
        self.now = start
        config = QueueConfig(
            mode=self.mode,
            weights=weights,
            capacity=capacity,
            no_show_grace_s=grace_s,
            timezone=tz,
        )
        counters = {name: Counter(name) for name in ("1", "2")}
        self.q = Queue(code="A", prefix="A", config=config, counters=counters)

    # -- helpers ---------------------------------------------------------------------------

    def waiting_ids(self) -> list[str]:
        return [t.id for t in self.queue.waiting()]

    def state(self) -> tuple[object, ...]:
        tickets = [
            (t.id, t.status, t.position, t.counter, t.recall_count, t.called_at)
            for t in self.queue.tickets.values()
        ]
        return (*tickets, len(self.queue.events))

    def act(self, action: str, ticket_id: str, command: Callable[[], Ticket]) -> Ticket | None:
        """Runs one ticket command and checks it against the contract's life cycle."""
        before_status = self.expected[ticket_id]
        allowed = LEGAL.get((action, before_status))
        before, since = self.state(), len(self.queue.events)
        try:
            ticket: Ticket = command()
        except IllegalTransition as error:
            assert allowed is None, f"{action} from {before_status} should be legal"
            assert error.code == "illegal_transition"
            assert self.state() == before, "an illegal transition changed the queue"
            return None
        assert allowed is not None, f"{action} from {before_status} should be illegal"
        assert ticket.id == ticket_id
        assert ticket.status is allowed
        changes = [e for e in self.queue.events[since:] if isinstance(e, TicketStateChanged)]
        steps = [(before_status, allowed)]
        if (action, before_status) == ("complete", C):  # started, then completed
            steps = [(C, S), (S, DONE)]
        assert [(e.ticket_id, e.from_status, e.to_status) for e in changes] == [
            (ticket_id, *step) for step in steps
        ]
        self.expected[ticket_id] = allowed
        return ticket

    def handed(self, ticket: Ticket) -> None:
        assert ticket.id not in self.handed_out, f"{ticket.number} was handed out twice"
        self.handed_out.add(ticket.id)

    # -- rules -----------------------------------------------------------------------------

    @rule(seconds=step_s)
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(target=tickets, priority=st.integers(0, 3), offset_s=appointment_offset_s)
    def join(self, priority: int, offset_s: int | None) -> object:
        ticket_id = f"t{next(self.serial)}"
        appointment = None if offset_s is None else self.now + timedelta(seconds=offset_s)
        request = JoinRequest(ticket_id, f"tok-{ticket_id}", priority, appointment)
        size, capacity = self.queue.size(), self.queue.config.capacity
        try:
            ticket = self.queue.join(request, self.now, "patient")
        except QueueFull as full:
            assert capacity is not None and size >= capacity
            assert full.capacity == capacity
            return multiple()
        assert capacity is None or size < capacity
        assert (ticket.status, ticket.line_at, ticket.joined_at) == (W, self.now, self.now)
        assert ticket.number == f"A-{ticket.seq:03d}"
        self.expected[ticket_id] = W
        return ticket_id

    @rule(counter=st.sampled_from(["1", "2", "1", "2", "9"]))
    def call_next(self, counter: str) -> None:
        line = [self.queue.ticket(i) for i in self.waiting_ids()]
        here = {i: s for i, s in self.expected.items() if s in (C, S)}
        here = {i: s for i, s in here.items() if self.queue.ticket(i).counter == counter}
        try:
            ticket = self.queue.call_next(counter, self.now, "staff")
        except UnknownCounter:
            assert counter not in self.queue.counters
            return
        except QueueEmpty:
            assert line == []
            return
        except CounterBusy as busy:
            # one patient per counter: one called there and not arrived holds it
            assert C in here.values() and here[busy.ticket_id] is C
            assert (busy.counter, busy.code) == (counter, "counter_busy")
            return
        assert counter in self.queue.counters
        assert C not in here.values()
        for served in here:  # being served there: finished by the call
            assert self.queue.ticket(served).status is DONE
            self.expected[served] = DONE
        assert ticket in line
        assert (ticket.status, ticket.counter, ticket.called_at) == (C, counter, self.now)
        assert ticket is rank(line, self.now, self.queue.config)[0]
        if self.mode is QueueMode.FIFO:
            assert ticket is min(line, key=lambda t: (t.line_at, t.seq))
        self.expected[ticket.id] = C
        self.handed(ticket)

    @rule(ticket_id=tickets, counter=st.sampled_from(["1", "2"]))
    def call(self, ticket_id: str, counter: str) -> None:
        ticket = self.act(
            "call", ticket_id, lambda: self.queue.call(ticket_id, counter, self.now, "staff")
        )
        if ticket is not None:
            self.handed(ticket)

    @rule(ticket_id=tickets)
    def recall(self, ticket_id: str) -> None:
        count = self.queue.ticket(ticket_id).recall_count
        ticket = self.act("recall", ticket_id, lambda: self.queue.recall(ticket_id, self.now, "x"))
        if ticket is not None:
            assert ticket.recall_count == count + 1

    @rule(ticket_id=tickets)
    def start(self, ticket_id: str) -> None:
        self.act("start", ticket_id, lambda: self.queue.start(ticket_id, self.now, "staff"))

    @rule(ticket_id=tickets)
    def complete(self, ticket_id: str) -> None:
        self.act("complete", ticket_id, lambda: self.queue.complete(ticket_id, self.now, "staff"))

    @rule(ticket_id=tickets)
    def no_show(self, ticket_id: str) -> None:
        self.act(
            "no-show", ticket_id, lambda: self.queue.mark_no_show(ticket_id, self.now, "staff")
        )

    @rule(ticket_id=tickets)
    def cancel(self, ticket_id: str) -> None:
        self.act("cancel", ticket_id, lambda: self.queue.cancel(ticket_id, self.now, "patient"))

    @rule(ticket_id=tickets)
    def return_to_line(self, ticket_id: str) -> None:
        ticket = self.act(
            "return", ticket_id, lambda: self.queue.return_to_line(ticket_id, self.now, "staff")
        )
        if ticket is not None:
            self.handed_out.discard(ticket_id)

    @rule()
    def reposition(self) -> None:
        before = [t.id for t in self.queue.waiting()]
        waiting = self.queue.reposition(self.now, "staff")
        line = self.queue.waiting()
        assert waiting == len(line)
        assert line == rank(line, self.now, self.queue.config)
        if self.mode is QueueMode.FIFO:
            assert [t.id for t in line] == before

    @rule()
    def time_passes(self) -> None:
        """The timer: a line re-evaluated and settled changes nobody's status or place
        (beyond ranking it now, as loading it does), announces a move exactly when its order
        now is not the one of the previous look, and a second look at once says nothing."""
        statuses = {t.id: t.status for t in self.queue.tickets.values()}
        # In the service every command is settled, which announces what it moved: this
        # machine does not settle, so that is done here.
        self.queue.line_moved_by = None
        self.queue.rank(self.now)  # as a queue loaded now is
        line = self.queue.waiting()
        since = self.last_look
        expect_move = (
            since is not None
            and self.mode is not QueueMode.FIFO
            and [t.id for t in rank(line, since, self.queue.config)] != [t.id for t in line]
        )
        kept, self.queue.events = self.queue.events, []
        self.queue.reevaluate(self.now, since, "system:timer")
        settled = settle([self.queue], self.queue.events, self.now)
        # Nobody here has a channel: a move is all there is to say.
        assert [type(s.event) for s in settled] == ([LineMoved] if expect_move else [])
        assert {t.id: t.status for t in self.queue.tickets.values()} == statuses
        assert self.queue.waiting() == line
        self.queue.events = []
        self.queue.rank(self.now)
        self.queue.reevaluate(self.now, self.now, "system:timer")
        assert settle([self.queue], self.queue.events, self.now) == []
        self.queue.events = kept
        self.last_look = self.now

    @rule()
    def expire(self) -> None:
        grace_s = self.queue.config.no_show_grace_s
        # the grace runs from the last call: a recall starts it again
        called = {
            t.id: t.recalled_at or t.called_at for t in self.queue.tickets.values() if t.status is C
        }
        expired = self.queue.expire_called(self.now)
        for ticket in expired:
            called_at = called[ticket.id]
            assert grace_s > 0 and called_at is not None
            assert (self.now - called_at).total_seconds() >= grace_s
            assert ticket.status is NO_SHOW
            self.expected[ticket.id] = NO_SHOW
        for ticket_id, called_at in called.items():
            if ticket_id not in {t.id for t in expired}:
                assert called_at is not None
                assert grace_s == 0 or (self.now - called_at).total_seconds() < grace_s

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def positions_are_one_to_n(self) -> None:
        if self.q is None:
            return
        waiting = [t for t in self.q.tickets.values() if t.status is W]
        assert sorted(t.position or 0 for t in waiting) == list(range(1, len(waiting) + 1))
        assert all(t.position is None for t in self.q.tickets.values() if t.status is not W)
        assert self.q.size() == len(waiting)

    @invariant()
    def no_ticket_lost_or_duplicated(self) -> None:
        if self.q is None:
            return
        actual = {t.id: t.status for t in self.q.tickets.values()}
        assert actual == self.expected
        assert all(t.id == key for key, t in self.q.tickets.items())
        tally = Tally(actual.values())
        assert sum(tally.values()) == len(self.expected)
        at_counters = {t.id for t in self.q.at_counters()}
        assert at_counters == {i for i, s in actual.items() if s in (C, S)}
        # every ticket handed out and not returned since has left the line
        assert all(actual[i] is not W for i in self.handed_out)

    @invariant()
    def estimates_follow_the_line(self) -> None:
        if self.q is None:
            return
        estimates = self.q.estimates(self.now)
        line = self.waiting_ids()
        assert set(estimates) == set(line)
        ordered = [estimates[i] for i in line]
        assert all(0 <= e.low_s <= e.eta_s <= e.high_s for e in ordered)
        assert all(a.eta_s <= b.eta_s for a, b in itertools.pairwise(ordered))


class FifoMachine(QueueMachine):
    mode = QueueMode.FIFO

    @invariant()
    def fifo_order_never_changes(self) -> None:
        if self.q is None:
            return
        line = self.waiting_ids()
        still_here = set(line) & set(self.previous_line)
        before = [i for i in self.previous_line if i in still_here]
        after = [i for i in line if i in still_here]
        assert before == after, "FIFO changed the relative order of waiting tickets"
        tickets = [self.q.ticket(i) for i in line]
        assert all(a.line_at <= b.line_at for a, b in itertools.pairwise(tickets))
        self.previous_line = line


class DynamicMachine(QueueMachine):
    mode = QueueMode.DYNAMIC

    @invariant()
    def higher_priority_never_behind_an_equal_lower_one(self) -> None:
        if self.q is None:
            return
        waiting = self.q.waiting()
        for a, b in itertools.combinations(waiting, 2):
            if (a.line_at, a.appointment_at) != (b.line_at, b.appointment_at):
                continue
            if a.priority > b.priority:
                assert (a.position or 0) < (b.position or 0), (a, b)
            elif b.priority > a.priority:
                assert (b.position or 0) < (a.position or 0), (a, b)


TestFifoQueue = FifoMachine.TestCase
TestFifoQueue.settings = STATEFUL
TestDynamicQueue = DynamicMachine.TestCase
TestDynamicQueue.settings = STATEFUL


# -- ordering properties -----------------------------------------------------------------


@st.composite
def tickets_st(draw: st.DrawFn, min_size: int = 0, max_size: int = 8) -> list[Ticket]:
    n = draw(st.integers(min_size, max_size))
    result = []
    for seq in range(1, n + 1):
        line_at = T0 - timedelta(seconds=draw(st.integers(0, 3 * 3600)))
        offset = draw(appointment_offset_s)
        result.append(
            Ticket(
                id=f"t{seq}",
                queue="A",
                number=f"A-{seq:03d}",
                seq=seq,
                token=f"tok{seq}",
                joined_at=line_at,
                line_at=line_at,
                priority=draw(st.integers(0, 3)),
                appointment_at=None if offset is None else T0 + timedelta(seconds=offset),
            )
        )
    return result


def dynamic_config(weights: Weights) -> QueueConfig:
    return QueueConfig(mode=QueueMode.DYNAMIC, weights=weights)


@PLAIN
@given(tickets=tickets_st(), weights=weights_st, mode=st.sampled_from(list(QueueMode)))
def test_rank_is_a_permutation(tickets: list[Ticket], weights: Weights, mode: QueueMode) -> None:
    ranked = rank(tickets, T0, QueueConfig(mode=mode, weights=weights))
    assert sorted(t.id for t in ranked) == sorted(t.id for t in tickets)
    assert rank(list(reversed(tickets)), T0, QueueConfig(mode=mode, weights=weights)) == ranked


@PLAIN
@given(tickets=tickets_st(min_size=1), weights=weights_st)
def test_a_newcomer_never_reorders_the_others(tickets: list[Ticket], weights: Weights) -> None:
    *others, newcomer = tickets
    config = dynamic_config(weights)
    without = [t.id for t in rank(others, T0, config)]
    with_newcomer = [t.id for t in rank([*others, newcomer], T0, config) if t is not newcomer]
    assert with_newcomer == without


@PLAIN
@given(tickets=tickets_st(min_size=2), weights=weights_st)
def test_a_dominating_ticket_ranks_ahead(tickets: list[Ticket], weights: Weights) -> None:
    """Higher or equal priority, in line at least as long, appointment at least as close."""

    def appointment_key(t: Ticket) -> datetime:
        return t.appointment_at or datetime.max.replace(tzinfo=UTC)

    ranked = rank(tickets, T0, dynamic_config(weights))
    index = {t.id: i for i, t in enumerate(ranked)}
    for a, b in itertools.permutations(tickets, 2):
        dominates = (
            a.priority >= b.priority
            and a.line_at <= b.line_at
            and appointment_key(a) <= appointment_key(b)
            and (a.priority, a.line_at) != (b.priority, b.line_at)
        )
        if dominates:
            assert index[a.id] < index[b.id], (a, b)


@PLAIN
@given(tickets=tickets_st(min_size=1), weights=weights_st, later_s=st.integers(0, 10 * 3600))
def test_scores_stay_in_range(tickets: list[Ticket], weights: Weights, later_s: int) -> None:
    now = T0 + timedelta(seconds=later_s)
    config = dynamic_config(weights)
    total = weights.priority + weights.wait_time + weights.appointment
    for t in tickets:
        assert 0.0 <= wait_time_score(t, now, config.wait_horizon_s) <= 1.0
        assert 0.0 <= appointment_score(t, now, config.appointment_window_s) <= 1.0
        assert 0.0 <= dynamic_score(t, now, config) <= total + 1e-12


# -- load and ETA properties -------------------------------------------------------------


@PLAIN
@given(a=st.floats(0, 5, allow_nan=False), b=st.floats(0, 5, allow_nan=False))
def test_load_factor_is_monotone(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert load_factor(low) <= load_factor(high)
    assert load_factor(a) in {1.0, 1.2, 1.5, 2.0}


service_st = st.builds(
    ServiceTime,
    mean_s=st.floats(1, 3600),
    sd_s=st.floats(0, 1800),
    samples=st.integers(0, 100),
    basis=st.just("week"),
)


@PLAIN
@given(
    line=st.lists(service_st, min_size=1, max_size=40),
    counters=st.integers(0, 6),
    elapsed=st.lists(st.floats(0, 4 * 3600), max_size=8),
    service=service_st,
    load=st.sampled_from([1.0, 1.2, 1.5, 2.0]),
)
def test_forecast_ranges_are_ordered_and_monotone(
    line: list[ServiceTime],
    counters: int,
    elapsed: list[float],
    service: ServiceTime,
    load: float,
) -> None:
    at_counters = [AtCounter(service, e) for e in elapsed]
    etas = forecast(line, at_counters, counters, load)
    assert len(etas) == len(line)
    assert all(0 <= e.low_s <= e.eta_s <= e.high_s for e in etas)
    # the line is handed out in order: nobody behind is expected to be called sooner
    assert all(a.eta_s <= b.eta_s for a, b in itertools.pairwise(etas))
    # and neither end of the range says otherwise ("1-2 min" then "0-8 min")
    assert all(a.low_s <= b.low_s for a, b in itertools.pairwise(etas))
    assert all(a.high_s <= b.high_s for a, b in itertools.pairwise(etas))
    wider = forecast(line, at_counters, counters, 2.0)
    assert all(w.high_s >= e.high_s for w, e in zip(wider, etas, strict=True))
    if len(elapsed) >= counters >= 1:
        # every counter busy: one more counter never makes anyone's wait longer (when the
        # counters free up is an integral, `eta._first_ends_s`, worked out to well under a
        # second on each one's own steps: the two may round a second apart)
        more = forecast(line, [*at_counters, AtCounter(service, 0.0)], counters + 1, load)
        assert all(m.eta_s <= e.eta_s + 1 for m, e in zip(more, etas, strict=True))


@PLAIN
@given(
    values=st.lists(st.floats(0, 4 * 3600), max_size=30),
    default_s=st.integers(30, 1800),
    tz=st.sampled_from(["UTC", "Europe/Madrid", "Asia/Kolkata"]),
)
def test_learned_mean_lies_between_the_samples_and_the_default(
    values: list[float], default_s: int, tz: str
) -> None:
    now = T0
    samples = [ServiceSample(now - timedelta(minutes=37 * i), v) for i, v in enumerate(values)]
    learned = learn_service_time(samples, now, tz, default_s)
    assert learned.samples <= len(values)
    if learned.samples == 0:
        assert (learned.mean_s, learned.basis) == (default_s, "default")
        return
    assert learned.basis in {"hour", "week"}
    low, high = min([*values, default_s]), max([*values, default_s])
    assert low - 1e-6 <= learned.mean_s <= high + 1e-6
    assert learned.sd_s >= 0
