"""Notification policy: which events become which patient messages, on which channel.

Only changes a patient acts on become messages. A shift of one place in the line does not,
unless it brings the patient to one of the queue's "getting close" positions nearer than
the place they were last told; a new ETA is announced only when it moved by the queue's
margin, and at most once per its interval.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.domain.eta import Eta
from core.domain.events import (
    DomainEvent,
    EtaRevised,
    LeaveNowAdvised,
    PositionChanged,
    TicketBroadcast,
    TicketCalled,
    TicketCancelled,
    TicketClosed,
    TicketCompleted,
    TicketDelayed,
    TicketEvent,
    TicketJoined,
    TicketMarkedNoShow,
    TicketRecalled,
    TicketReturned,
    TicketServiceChosen,
    TicketTransferredIn,
)
from core.domain.model import QueueConfig, Ticket


class Channel(enum.StrEnum):
    """How notifications reach a patient."""

    TELEGRAM = "telegram"
    SMS = "sms"


class DeliveryStatus(enum.StrEnum):
    """Where an outbox message stands on our side; the provider's own report of it (Twilio's
    `delivered`, `undelivered` …) is kept apart, as `provider_status`."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    """Not sent: the patient opted out."""
    ACKNOWLEDGED = "acknowledged"
    """Sent, and the patient answered it ("I'm on my way")."""
    SUPERSEDED = "superseded"
    """Not sent: it no longer told the truth when its turn came (the ticket moved on, or a
    newer message replaced it); see `core.domain.freshness`."""


class MessageKind(enum.StrEnum):
    """The notifications a patient can receive; each has a template per channel."""

    JOINED = "joined"
    CLOSE = "close"
    LEAVE_NOW = "leave_now"
    ETA_CHANGED = "eta_changed"
    CALLED = "called"
    RECALLED = "recalled"
    MISSED = "missed"
    RETURNED = "returned"
    TRANSFERRED = "transferred"
    DONE = "done"
    LEFT = "left"
    LINE_CLOSED = "line_closed"
    """The queue closed for the day before the patient could be seen."""
    BROADCAST = "broadcast"
    """Staff's own words to the line (`core.domain.broadcast`)."""


MESSAGE_KINDS: dict[type[DomainEvent], MessageKind] = {
    TicketJoined: MessageKind.JOINED,
    TicketCalled: MessageKind.CALLED,
    TicketRecalled: MessageKind.RECALLED,
    TicketMarkedNoShow: MessageKind.MISSED,
    TicketReturned: MessageKind.RETURNED,
    TicketTransferredIn: MessageKind.TRANSFERRED,
    TicketCompleted: MessageKind.DONE,
    TicketCancelled: MessageKind.LEFT,
    TicketClosed: MessageKind.LINE_CLOSED,
    EtaRevised: MessageKind.ETA_CHANGED,
    LeaveNowAdvised: MessageKind.LEAVE_NOW,
    PositionChanged: MessageKind.CLOSE,
    TicketBroadcast: MessageKind.BROADCAST,
}
ETA_KINDS = frozenset(
    {
        MessageKind.JOINED,
        MessageKind.CLOSE,
        MessageKind.RETURNED,
        MessageKind.TRANSFERRED,
        MessageKind.ETA_CHANGED,
        MessageKind.LEAVE_NOW,
    }
)
"""Messages that tell the patient their wait, and so reset what they were last told."""
URGENT_KINDS = frozenset({MessageKind.CALLED, MessageKind.RECALLED})
"""Sent ahead of every routine message."""
SMS_SKIPPED_KINDS = frozenset({MessageKind.DONE})
"""Every SMS is paid for: a "thank you" after the visit is not worth one (on Telegram it
carries the rating buttons)."""
ANSWERED_BY_REPLY = frozenset({MessageKind.JOINED, MessageKind.LEFT})
"""A patient who joins or leaves by text message reads the outcome in the reply to it."""


def patient_actor(channel: str) -> str:
    """Who an event was done by when a patient did it from their phone."""
    return f"patient:{channel}"


@dataclass(frozen=True)
class NotificationIntent:
    kind: MessageKind
    channel: Channel
    recipient: str
    params: dict[str, Any]

    @property
    def urgent(self) -> bool:
        return self.kind in URGENT_KINDS


def message_kind(event: DomainEvent) -> MessageKind | None:
    return MESSAGE_KINDS.get(type(event))


def is_getting_close(ticket: Ticket, config: QueueConfig) -> bool:
    """The ticket stands at one of the queue's "getting close" positions, nearer than the
    place its patient was last told (or none was told): worth a message. Once, so a ticket
    that steps back and forward again (3, 4, 3) is told at 3 once."""
    position = ticket.position
    if position is None or position not in config.notify_positions:
        return False
    return ticket.told_position is None or position < ticket.told_position


def tells_eta(event: DomainEvent) -> bool:
    """A message (or, for "late" and a kind of visit chosen, the reply to it) that gives the
    patient a new ETA."""
    return (
        isinstance(event, TicketDelayed | TicketServiceChosen) or message_kind(event) in ETA_KINDS
    )


def patient_channel(ticket: Ticket) -> tuple[Channel, str] | None:
    """Telegram when the patient joined there, SMS when only a phone number is known."""
    if ticket.telegram_chat_id is not None:
        return Channel.TELEGRAM, str(ticket.telegram_chat_id)
    if ticket.phone:
        return Channel.SMS, ticket.phone
    return None


def reachable(ticket: Ticket) -> bool:
    """The patient has a `patient_channel`: asked of every waiting ticket after each
    command, so without building the address."""
    return ticket.telegram_chat_id is not None or bool(ticket.phone)


def eta_notice(
    ticket: Ticket, estimate: Eta, now: datetime, config: QueueConfig
) -> MessageKind | None:
    """`leave_now`, `eta_changed` or nothing, for a waiting patient not otherwise told."""
    travel_s = ticket.travel_s
    if travel_s is not None and not ticket.leave_now_sent and estimate.low_s <= travel_s:
        return MessageKind.LEAVE_NOW
    if ticket.announced_eta_s is None:
        return None
    if abs(estimate.eta_s - ticket.announced_eta_s) < config.eta_change_margin_s:
        return None
    if ticket.announced_at is not None:
        since_s = (now - ticket.announced_at).total_seconds()
        if since_s < config.eta_update_interval_s:
            return None
    return MessageKind.ETA_CHANGED


def worth_an_sms(kind: MessageKind, event: DomainEvent, config: QueueConfig) -> bool:
    """Keeps a typical SMS visit to three or four segments: joined, one "getting close"
    (at the farthest position the queue warns at, which leaves the most time to come
    back), called, and a new ETA only when it moved a lot."""
    if kind in SMS_SKIPPED_KINDS:
        return False
    if isinstance(event, PositionChanged) and config.notify_positions:
        return event.new_position == max(config.notify_positions)
    return not (kind in ANSWERED_BY_REPLY and event.actor == patient_actor(Channel.SMS))


def intents_for(
    event: DomainEvent, ticket: Ticket, config: QueueConfig, estimate: Eta | None = None
) -> list[NotificationIntent]:
    kind = message_kind(event)
    channel = patient_channel(ticket)
    if kind is None or channel is None or not isinstance(event, TicketEvent):
        return []
    if channel[0] is Channel.SMS and not worth_an_sms(kind, event, config):
        return []
    params = {
        k: v for k, v in event.to_dict()["data"].items() if k not in ("actor", "at", "consent")
    }
    params["language"] = ticket.language or config.language
    if kind in ETA_KINDS and estimate is not None:
        params.update(
            position=ticket.position,
            eta_s=estimate.eta_s,
            eta_low_s=estimate.low_s,
            eta_high_s=estimate.high_s,
        )
    if ticket.travel_s is not None:
        params["travel_s"] = ticket.travel_s
    return [NotificationIntent(kind, channel[0], channel[1], params)]
