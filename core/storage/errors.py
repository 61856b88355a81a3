"""What storage answers when a row is missing, taken or changed under a command; the whole
tree is drawn at the top of core.domain.errors."""

from __future__ import annotations

from core.domain.errors import DomainError


class NotFound(DomainError):
    """No row of that kind with that key; `code` names the kind (`queue_not_found`)."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"no {what} {key!r}")
        self.code = f"{what}_not_found"
        self.key = key


class AlreadyExists(DomainError):
    """A name or code that another queue or account already has."""

    code = "already_exists"


class ConcurrentUpdate(DomainError):
    """Someone else changed the ticket between its read and its write."""

    code = "concurrent_update"

    def __init__(self) -> None:
        super().__init__("someone else changed this ticket at the same moment; try again")
