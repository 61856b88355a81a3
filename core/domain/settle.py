"""What follows a command before it is stored: the waiting patients are advised of their
new waits, and each event is turned into the notifications it causes.

A command only changes the queues it was given; settling decides, from their state after
it, what the patients are told. Both are pure, so the service layer stores and publishes
the outcome without deciding anything itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.domain.eta import Eta
from core.domain.events import DomainEvent, TicketEvent
from core.domain.model import Ticket
from core.domain.notify import NotificationIntent, intents_for
from core.domain.queue import Queue


@dataclass(frozen=True)
class SettledEvent:
    """One event of a command, with the notifications it causes."""

    event: DomainEvent
    ticket: Ticket | None
    """The ticket a ticket event concerns, when one of the command's queues holds it."""
    intents: list[NotificationIntent]
    estimate: Eta | None = None
    """The wait the ticket was advised on, when it is waiting in a queue the command changed
    (the simulator records the one given at join)."""


def settle(queues: Sequence[Queue], events: list[DomainEvent], now: datetime) -> list[SettledEvent]:
    """Settles a command whose queues share `events` (their one list, in command order).

    Each queue the command changed advises its waiting patients of a new ETA first (its
    learned service time is set by then), so those notices are settled with the rest;
    the advice's own events are appended to `events`.
    """
    by_code = {queue.code: queue for queue in queues}
    estimates: dict[str, Eta] = {}
    for code in dict.fromkeys(e.queue for e in events):
        if code in by_code:
            estimates |= by_code[code].advise(now)
    tickets = {t.id: t for queue in queues for t in queue.tickets.values()}
    settled = []
    for event in events:
        ticket = tickets.get(event.ticket_id) if isinstance(event, TicketEvent) else None
        intents: list[NotificationIntent] = []
        estimate: Eta | None = None
        if isinstance(event, TicketEvent) and ticket is not None:
            config = by_code[event.queue].config
            estimate = estimates.get(ticket.id)
            intents = intents_for(event, ticket, config, estimate)
        settled.append(SettledEvent(event, ticket, intents, estimate))
    return settled
