"""Errors of the service layer; the whole tree is drawn at the top of core.domain.errors."""

from __future__ import annotations

from core.domain.errors import DomainError, InvalidValue


class Unauthorized(DomainError):
    """No credentials, or ones that are wrong or expired."""

    code = "unauthorized"


class Forbidden(DomainError):
    """Valid credentials without the right to this queue, ticket or action."""

    code = "forbidden"


class SeveralTickets(DomainError):
    """The patient waits in several queues and did not say which one they mean."""

    code = "several_tickets"

    def __init__(self, queues: list[str]) -> None:
        super().__init__(f"you are waiting in several queues ({', '.join(queues)}); say which")
        self.queues = queues


class AlreadyCalled(InvalidValue):
    """A patient leaving by phone after their call: only staff can end that visit now."""

    def __init__(self) -> None:
        super().__init__("you have been called already; please speak to the staff")


class UnknownLinkCode(InvalidValue):
    """A staff chat link code that was never issued, was used already or has expired."""

    def __init__(self) -> None:
        super().__init__("that code is unknown, used or expired; ask for a new one")


class AccountDisabled(InvalidValue):
    """A staff chat link code of an account that was disabled since it was issued."""

    def __init__(self) -> None:
        super().__init__("that account is disabled")


class NoQueueChosen(InvalidValue):
    """A staff chat command that names no queue, from a chat that called from none yet."""


class NoCounters(InvalidValue):
    """A call from a queue that has no counter to call to."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue} has no counters")
        self.queue = queue


class NothingCalled(InvalidValue):
    """Recall, no-show or done from a staff chat that has called nobody yet."""

    def __init__(self) -> None:
        super().__init__("call someone first with /next")
