"""Typed errors; each carries the snake_case `code` that entrypoints show.

Every refusal NextUp means to give is a `DomainError`. The domain's own are here; those of
the service layer (marked *) are in `core.services.errors`, and those storage gives (marked
†) in `core.storage.errors`; they subclass these. Entrypoints
catch a class, never a message: `web/errors.py` maps each to an HTTP status, the CLI prints
it, and `core/services/conversation.py` turns those a patient can meet into replies.

    DomainError
    ├── InvalidValue              a value out of range, unreadable or not allowed here
    │   ├── LateLimitReached      moved back as often as a ticket may
    │   ├── BroadcastTooLong      a broadcast that would take more than 2 SMS segments
    │   ├── AlreadyCalled *       leaving by phone once called: only staff end that visit
    │   ├── UnknownLinkCode *     a staff chat link code unknown, used or expired
    │   ├── AccountDisabled *     a staff chat link code of a disabled account
    │   ├── NoQueueChosen *       a staff chat command with no queue given or remembered
    │   ├── NoCounters *          a call from a queue that has no counters
    │   └── NothingCalled *       recall, no-show or done before any call from that chat
    ├── UnknownCounter            a counter the queue does not have
    ├── QueueFull                 the queue holds its capacity
    ├── QueueClosed               a join outside opening hours, on a closure date or paused
    ├── QueueClosing              a join whose forecast call falls after closing time
    ├── QueueEmpty                a call with nobody waiting
    ├── CounterBusy               a call while the counter's called patient has not arrived
    ├── TicketNotInQueue          a ticket id of another queue
    ├── IllegalTransition         an action the ticket's status does not allow
    ├── NotFound †                no such queue, ticket, account …
    ├── AlreadyExists †           a name or code taken
    ├── ConcurrentUpdate †        a ticket changed by someone else at the same moment
    ├── Unauthorized *            no valid credentials
    ├── Forbidden *               credentials without the right to this
    └── SeveralTickets *          a patient's request that could mean several tickets
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime


class DomainError(Exception):
    """A refusal with a stable `code`; the message says why in words."""

    code = "domain_error"

    def details(self) -> Mapping[str, object] | None:
        """What the error is about, for the error object's `details`; most say it in words."""
        return None


class InvalidValue(DomainError):
    """A value out of range, unreadable, or not allowed in this situation."""

    code = "invalid_value"


class LateLimitReached(InvalidValue):
    """ "I'm running late" once more than a ticket may be moved back."""

    def __init__(self, max_late: int) -> None:
        super().__init__(f"a ticket can be moved back at most {max_late} times")
        self.max_late = max_late


class QueueFull(DomainError):
    """A join to a queue that holds as many waiting patients as its capacity."""

    code = "queue_full"

    def __init__(self, queue: str, capacity: int, overflow_queue: str | None) -> None:
        super().__init__(f"queue {queue} is full ({capacity} waiting)")
        self.queue = queue
        self.capacity = capacity
        self.overflow_queue = overflow_queue


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class QueueClosed(DomainError):
    """A join while closed (hours, a closure date, a pause); `opens_at` None: not known."""

    code = "queue_closed"

    def __init__(
        self,
        queue: str,
        opens_at: datetime | None,
        paused: bool = False,
        pause_message: str | None = None,
    ) -> None:
        why = "is paused" if paused else "is closed"
        when = f"; it opens at {opens_at.isoformat()}" if opens_at else ""
        super().__init__(f"queue {queue} {why}{when}")
        self.queue, self.opens_at = queue, opens_at
        self.paused, self.pause_message = paused, pause_message

    def details(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {"queue": self.queue, "opens_at": _iso(self.opens_at)}
        if self.paused:
            found["message"] = self.pause_message
        return found


class QueueClosing(DomainError):
    """A join whose forecast call is after closing: no promise that cannot be kept."""

    code = "queue_closing"

    def __init__(self, queue: str, closes_at: datetime, opens_at: datetime | None) -> None:
        super().__init__(
            f"queue {queue} cannot see a patient joining now before it closes at "
            f"{closes_at.isoformat()}"
            + (f"; it opens again at {opens_at.isoformat()}" if opens_at else "")
        )
        self.queue, self.closes_at, self.opens_at = queue, closes_at, opens_at

    def details(self) -> dict[str, str | None]:
        return {
            "queue": self.queue,
            "closes_at": _iso(self.closes_at),
            "opens_at": _iso(self.opens_at),
        }


class QueueEmpty(DomainError):
    """A call from a queue where nobody is waiting."""

    code = "queue_empty"

    def __init__(self, queue: str) -> None:
        super().__init__(f"nobody is waiting in queue {queue}")
        self.queue = queue


class UnknownCounter(DomainError):
    """A counter name the queue does not have."""

    code = "unknown_counter"

    def __init__(self, queue: str, counter: str) -> None:
        super().__init__(f"queue {queue} has no counter {counter!r}")
        self.queue, self.counter = queue, counter


class CounterBusy(DomainError):
    """Call next to a counter whose called patient has not arrived yet."""

    code = "counter_busy"

    def __init__(self, queue: str, counter: str, number: str, ticket_id: str) -> None:
        super().__init__(
            f"counter {counter} is waiting for {number}, who was called and has not arrived: "
            "start, no-show or return them first"
        )
        self.queue, self.counter, self.number, self.ticket_id = queue, counter, number, ticket_id

    def details(self) -> dict[str, str | None]:
        return {
            "queue": self.queue,
            "counter": self.counter,
            "ticket_id": self.ticket_id,
            "number": self.number,
        }


class TicketNotInQueue(DomainError):
    """A ticket id that is not in the queue the command is about."""

    code = "ticket_not_found"

    def __init__(self, queue: str, ticket_id: str) -> None:
        super().__init__(f"ticket {ticket_id} is not in queue {queue}")


class IllegalTransition(DomainError):
    """An action the ticket's status does not allow (finishing a waiting ticket, say)."""

    code = "illegal_transition"

    def __init__(self, number: str, action: str, status: str) -> None:
        super().__init__(f"cannot {action} ticket {number}: it is {status}")
        self.action = action
        self.status = status
