"""Delivering notifications: the protocol every channel's sender implements, and its errors.

A sender turns one rendered message into one provider request. It says what went wrong by
the error it raises, and the dispatcher decides what follows: wait and retry, back off and
retry, or give up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.messages import Button


@dataclass(frozen=True)
class Outgoing:
    id: str
    channel: str
    recipient: str
    kind: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    language: str | None = None
    """The language `text` is in (a voice call is spoken in it)."""
    origin: str | None = None
    """Who sends it, when the limits chose (a Twilio number or Messaging Service); None:
    the sender's own choice."""


@dataclass(frozen=True)
class Receipt:
    provider_message_id: str | None
    delivered_to: str
    """`telegram`, `sms`, `voice` or `dev_inbox`."""
    segments: int | None = None
    """SMS segments billed for the message."""
    provider_status: str | None = None
    """What the provider said of the message on accepting it (Twilio: `queued`)."""


class SendError(Exception):
    """A send that did not go through; the message says why, for staff to read."""


class RetryAfter(SendError):
    """The provider asked us to wait (HTTP 429); try again after `delay_s`."""

    def __init__(self, reason: str, delay_s: float) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class TemporaryFailure(SendError):
    """Network error, timeout or 5xx: retried with backoff."""


class PermanentFailure(SendError):
    """Retrying cannot help (blocked bot, invalid number): the notification fails now."""


class RecipientOptedOut(PermanentFailure):
    """The recipient told the provider to stop (SMS `STOP`): nothing more goes to them on
    this channel until they opt in again."""


class Sender(Protocol):
    async def send(self, message: Outgoing) -> Receipt: ...

    async def close(self) -> None: ...
