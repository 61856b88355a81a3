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
from core.domain.events import DomainEvent, LineMoved, TicketEvent
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


@dataclass(frozen=True)
class Settlement:
    """What settling a command gave: its events with their notifications, and the forecast
    of every queue it touched."""

    events: list[SettledEvent]
    estimates: dict[str, dict[str, Eta]]
    """By queue code, then ticket id: the ETA of every waiting ticket of each queue the
    command touched, as the queue stands settled (settling changes no place in line and no
    visit). A command's queues are final once settled, so what is told of them afterwards
    (a join's answer, the queue's status) reads these rather than forecasting again."""


def settle(queues: Sequence[Queue], events: list[DomainEvent], now: datetime) -> list[SettledEvent]:
    """The settled events of `settlement`."""
    return settlement(queues, events, now).events


def settlement(queues: Sequence[Queue], events: list[DomainEvent], now: datetime) -> Settlement:
    """Settles a command whose queues share `events` (their one list, in command order).

    Each queue the command touched (or on which time passed, `Queue.reevaluate`) tells the
    patients who have come close ("getting close"), then advises its waiting patients of a
    new ETA (its learned service time is set by then), and a queue whose line changed
    announces it once (`LineMoved`); those events are appended to `events` and settled
    with the rest.
    """
    by_code = {queue.code: queue for queue in queues}
    forecasts: dict[str, dict[str, Eta]] = {}
    touched = [e.queue for e in events] + [
        q.code for q in queues if q.line_moved_by or q.time_passed
    ]
    for code in dict.fromkeys(touched):
        if code in by_code:
            queue = by_code[code]
            queue.time_passed = False
            forecasts[code] = queue.settle_waiting(now)
            if queue.line_moved_by is not None:
                events.append(
                    LineMoved(queue=code, at=now, actor=queue.line_moved_by, waiting=queue.size())
                )
                queue.line_moved_by = None
    settled = []
    for event in events:
        ticket = _ticket_of(queues, event.ticket_id) if isinstance(event, TicketEvent) else None
        intents: list[NotificationIntent] = []
        estimate: Eta | None = None
        if isinstance(event, TicketEvent) and ticket is not None:
            config = by_code[event.queue].config
            estimate = next((f[ticket.id] for f in forecasts.values() if ticket.id in f), None)
            intents = intents_for(event, ticket, config, estimate)
        settled.append(SettledEvent(event, ticket, intents, estimate))
    return Settlement(settled, forecasts)


def _ticket_of(queues: Sequence[Queue], ticket_id: str) -> Ticket | None:
    """The ticket of that id in the last of `queues` holding it (a transfer's two queues
    may both), looked up for each event rather than indexing every ticket of every line
    at every command."""
    for queue in reversed(queues):
        ticket = queue.tickets.get(ticket_id)
        if ticket is not None:
            return ticket
    return None
