"""Typed domain errors; each carries the snake_case code that entrypoints show."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def details(self) -> dict[str, str] | None:
        """What the error is about, for the error object's `details`; most say it in words."""
        return None


class InvalidValue(DomainError):
    code = "invalid_value"


class QueueFull(DomainError):
    code = "queue_full"

    def __init__(self, queue: str, capacity: int, overflow_queue: str | None) -> None:
        super().__init__(f"queue {queue} is full ({capacity} waiting)")
        self.queue = queue
        self.capacity = capacity
        self.overflow_queue = overflow_queue


class QueueEmpty(DomainError):
    code = "queue_empty"

    def __init__(self, queue: str) -> None:
        super().__init__(f"nobody is waiting in queue {queue}")
        self.queue = queue


class UnknownCounter(DomainError):
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

    def details(self) -> dict[str, str]:
        return {
            "queue": self.queue,
            "counter": self.counter,
            "ticket_id": self.ticket_id,
            "number": self.number,
        }


class TicketNotInQueue(DomainError):
    code = "ticket_not_found"

    def __init__(self, queue: str, ticket_id: str) -> None:
        super().__init__(f"ticket {ticket_id} is not in queue {queue}")


class IllegalTransition(DomainError):
    code = "illegal_transition"

    def __init__(self, number: str, action: str, status: str) -> None:
        super().__init__(f"cannot {action} ticket {number}: it is {status}")
        self.action = action
        self.status = status
