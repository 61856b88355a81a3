"""Errors of the service layer (the domain's own are in core.domain.errors)."""

from __future__ import annotations

from core.domain.errors import DomainError


class NotFound(DomainError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"no {what} {key!r}")
        self.code = f"{what}_not_found"
        self.key = key


class AlreadyExists(DomainError):
    code = "already_exists"


class ConcurrentUpdate(DomainError):
    code = "concurrent_update"

    def __init__(self) -> None:
        super().__init__("someone else changed this ticket at the same moment; try again")


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class SeveralTickets(DomainError):
    """The patient waits in several queues and did not say which one they mean."""

    code = "several_tickets"

    def __init__(self, queues: list[str]) -> None:
        super().__init__(f"you are waiting in several queues ({', '.join(queues)}); say which")
        self.queues = queues
