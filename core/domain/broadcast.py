"""A message from staff to everyone in a line ("the pharmacist is back at 14:00").

Who is addressed is decided here; the text reaches each patient on their own channel as a
notification of kind `broadcast`, through the outbox like every other message, so the
dispatcher's rate limits and retries apply.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from core.domain.errors import InvalidValue
from core.domain.model import LIVE_STATUSES, Ticket, TicketStatus

MAX_BROADCAST_CHARS = 1000
"""Well inside Telegram's 4,096 characters per message, with the queue's name around it."""
MAX_BROADCAST_SMS_SEGMENTS = 2
"""Every segment is paid for, once per patient on SMS: a broadcast that would cost more is
refused with its count (`BroadcastTooLong`), so staff shorten it."""


class Audience(enum.StrEnum):
    WAITING = "waiting"
    """The patients in line, not those already called."""
    ALL = "all"
    """Every live ticket: waiting, called and at a counter."""


AUDIENCE_STATUSES: dict[Audience, frozenset[TicketStatus]] = {
    Audience.WAITING: frozenset({TicketStatus.WAITING}),
    Audience.ALL: LIVE_STATUSES,
}


class BroadcastTooLong(InvalidValue):
    """The broadcast would take more SMS segments than `MAX_BROADCAST_SMS_SEGMENTS`."""

    code = "broadcast_too_long"

    def __init__(self, segments: int, sms_patients: int) -> None:
        super().__init__(
            f"as an SMS this broadcast takes {segments} segments; at most "
            f"{MAX_BROADCAST_SMS_SEGMENTS} are sent ({sms_patients} patients would get it by "
            "SMS): shorten it"
        )
        self.segments = segments
        self.sms_patients = sms_patients

    def details(self) -> dict[str, int]:
        return {
            "segments": self.segments,
            "max_segments": MAX_BROADCAST_SMS_SEGMENTS,
            "sms_patients": self.sms_patients,
        }


def audience_of(value: str) -> Audience:
    try:
        return Audience(value)
    except ValueError:
        raise InvalidValue(f"to: one of {', '.join(Audience)}, got {value!r}") from None


def checked_text(text: str) -> str:
    """The text as sent: trimmed, not empty, at most `MAX_BROADCAST_CHARS` characters."""
    text = (text or "").strip()
    if not text:
        raise InvalidValue("text: the message is empty")
    if len(text) > MAX_BROADCAST_CHARS:
        raise InvalidValue(f"text: at most {MAX_BROADCAST_CHARS} characters, got {len(text)}")
    if "\x00" in text:
        raise InvalidValue("text: must not contain NUL characters")
    return text


def addressed(tickets: Iterable[Ticket], audience: Audience) -> list[Ticket]:
    """The tickets a broadcast to `audience` is about, in the order they joined."""
    statuses = AUDIENCE_STATUSES[audience]
    return sorted((t for t in tickets if t.status in statuses), key=lambda t: t.joined_at)
