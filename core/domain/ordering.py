"""Orders the waiting line: FIFO by place in line, by the seed plan's weighted score, or
shortest expected service first with a fairness cap."""

from __future__ import annotations

import functools
import heapq
import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from core.domain.model import MAX_PRIORITY, QueueConfig, QueueMode, Ticket

FIFO_KEY = operator.attrgetter("line_at", "seq", "id")
"""First come, first served: by place in line, then issue order (read in C: the whole line
is ranked after every command)."""


def priority_score(ticket: Ticket) -> float:
    return ticket.priority / MAX_PRIORITY


def wait_time_score(ticket: Ticket, now: datetime, wait_horizon_s: int) -> float:
    """Time in line against a fixed horizon, so a newcomer cannot change anyone else's score."""
    waited_s = max(0.0, (now - ticket.line_at).total_seconds())
    return min(1.0, waited_s / wait_horizon_s)


def appointment_score(ticket: Ticket, now: datetime, window_s: int) -> float:
    """0 for a walk-in or an appointment beyond the window, rising to 1 when it is due."""
    if ticket.appointment_at is None:
        return 0.0
    until_s = (ticket.appointment_at - now).total_seconds()
    if until_s <= 0:
        return 1.0
    if window_s == 0 or until_s >= window_s:
        return 0.0
    return 1.0 - until_s / window_s


def dynamic_score(ticket: Ticket, now: datetime, config: QueueConfig) -> float:
    w = config.weights
    return (
        w.priority * priority_score(ticket)
        + w.wait_time * wait_time_score(ticket, now, config.wait_horizon_s)
        + w.appointment * appointment_score(ticket, now, config.appointment_window_s)
    )


class CapPlan:
    """What `short_first` needs to keep the fairness cap: which call is whose turn, when
    each open counter is sure to have freed up (worked out only when a ticket's turn has
    come: most rankings need none), and how long a ticket's own visit is sure to take."""

    def __init__(
        self,
        next_turn_no: Sequence[int],
        counters_free_s: Callable[[], list[float]],
        sure_visit_s: Callable[[Ticket], float],
    ) -> None:
        self.next_turn_no = next_turn_no
        """By priority: the `Ticket.fifo_call_no` the queue's next call is the turn of."""
        self._counters_free_s = counters_free_s
        self.sure_visit_s = sure_visit_s

    @functools.cached_property
    def counters_free_s(self) -> list[float]:
        """When each open counter is sure to have freed up for a ticket whose cap has not
        made it go first: a busy one from its visit, a free one after a usual visit (it
        goes to someone else)."""
        return self._counters_free_s()


NO_CAP_PLAN = CapPlan((), lambda: [0.0], lambda _: 0.0)


def cap_runs_out(
    line: Sequence[Ticket], now: datetime, config: QueueConfig, plan: CapPlan
) -> dict[str, datetime]:
    """`short_first` mode: the tickets whose fairness cap is about to run out, with when it
    does. A ticket's cap runs out `fairness_cap_s` after its turn under first come, first
    served came (`Ticket.fifo_call_no`, `fifo_call_at`): one whose turn has not come yet
    has none, unless its turn is the next call: that call may go to someone else only
    if the ticket can still be reached in time.

    "About to": the tickets whose turn has come are handed out, soonest cap first, to the
    counters as they are sure to free up, each keeping its counter for as long as its own
    visit is sure to take; a ticket whose cap would run out before its counter frees up
    goes first now. So each reaches a counter in time however many fall due together."""
    cap = timedelta(seconds=config.fairness_cap_s)
    next_no = plan.next_turn_no
    turned = [t for t in line if t.fifo_call_no is None or t.fifo_call_no <= next_no[t.priority]]
    if not turned:
        return {}
    runs_out = {
        t.id: (now if t.fifo_call_no is not None else t.fifo_call_at or t.line_at) + cap
        for t in turned
    }
    free_s = list(plan.counters_free_s)
    heapq.heapify(free_s)
    soonest_first = sorted(turned, key=lambda t: (runs_out[t.id], t.seq, t.id))
    capped_to = 0
    for index, ticket in enumerate(soonest_first, start=1):
        counter_free_s = free_s[0]
        if (runs_out[ticket.id] - now).total_seconds() <= counter_free_s:
            capped_to = index  # it goes first: so do the ones whose cap runs out sooner
        heapq.heapreplace(free_s, counter_free_s + plan.sure_visit_s(ticket))
    return {t.id: runs_out[t.id] for t in soonest_first[:capped_to]}


def rank(
    tickets: Iterable[Ticket],
    now: datetime,
    config: QueueConfig,
    expected_service_s: Callable[[Ticket], float] = lambda _: 0.0,
    cap_plan: CapPlan = NO_CAP_PLAN,
) -> list[Ticket]:
    """Waiting tickets in serving order. Ties go to higher priority, then earlier in line."""
    if config.mode is QueueMode.FIFO:
        return sorted(tickets, key=FIFO_KEY)

    if config.mode is QueueMode.SHORT_FIRST:
        # Serving short visits first lowers the mean wait (each minute of counter time keeps
        # fewer people waiting). A patient whose fairness cap is about to run out goes
        # first, a higher priority's patient too: under first come, first served (a higher
        # priority first) they would have been called before anyone who came after their
        # turn, and whoever came before it has had theirs.
        line = list(tickets)
        capped = cap_runs_out(line, now, config, cap_plan)

        def short_first(t: Ticket) -> tuple[bool, int, bool, float, datetime, int, str]:
            runs_out = capped.get(t.id)
            if runs_out is not None:
                return (False, 0, False, 0.0, runs_out, t.seq, t.id)
            booked_now = t.appointment_at is not None and t.appointment_at <= now
            return (
                True,
                -t.priority,
                not booked_now,
                0.0 if booked_now else expected_service_s(t),
                t.line_at,
                t.seq,
                t.id,
            )

        return sorted(line, key=short_first)

    def key(t: Ticket) -> tuple[float, int, datetime, int, str]:
        # Rounding keeps float noise from breaking ties that the later keys should decide.
        return (-round(dynamic_score(t, now, config), 9), -t.priority, t.line_at, t.seq, t.id)

    return sorted(tickets, key=key)
