"""Orders the waiting line: FIFO by place in line, by the seed plan's weighted score, or
shortest expected service first with a fairness cap."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from datetime import datetime

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


def is_due(ticket: Ticket, now: datetime, config: QueueConfig, lead_s: float = 0.0) -> bool:
    """Short-first mode: `lead_s` short of the fairness cap past the time first come, first
    served would have called the ticket (its place in line when that was not noted), or an
    appointment now due. The lead is how long a due ticket is expected to wait for a counter
    to free up: due only at the cap itself, it would be called after it."""
    fifo_call_at = ticket.fifo_call_at or ticket.line_at
    if (now - fifo_call_at).total_seconds() + lead_s >= config.fairness_cap_s:
        return True
    return ticket.appointment_at is not None and ticket.appointment_at <= now


def rank(
    tickets: Iterable[Ticket],
    now: datetime,
    config: QueueConfig,
    expected_service_s: Callable[[Ticket], float] = lambda _: 0.0,
    due_lead_s: float = 0.0,
) -> list[Ticket]:
    """Waiting tickets in serving order. Ties go to higher priority, then earlier in line."""
    if config.mode is QueueMode.FIFO:
        return sorted(tickets, key=FIFO_KEY)

    if config.mode is QueueMode.SHORT_FIRST:
        # Serving short visits first lowers the mean wait (each minute of counter time keeps
        # fewer people waiting); once a patient is the cap past when FIFO would have called
        # them, nobody may pass them any more, which bounds what that costs the long visits.
        def short_first(t: Ticket) -> tuple[int, bool, float, datetime, int, str]:
            due = is_due(t, now, config, due_lead_s)
            return (
                -t.priority,
                not due,
                0.0 if due else expected_service_s(t),
                t.line_at,
                t.seq,
                t.id,
            )

        return sorted(tickets, key=short_first)

    def key(t: Ticket) -> tuple[float, int, datetime, int, str]:
        # Rounding keeps float noise from breaking ties that the later keys should decide.
        return (-round(dynamic_score(t, now, config), 9), -t.priority, t.line_at, t.seq, t.id)

    return sorted(tickets, key=key)
