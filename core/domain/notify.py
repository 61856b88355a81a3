"""Notification policy: which events become which patient messages, on which channel.

Only changes a patient acts on become messages; a shift of one place in the line does not,
unless it crosses one of the queue's "getting close" positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.domain.events import (
    DomainEvent,
    PositionChanged,
    TicketCalled,
    TicketCancelled,
    TicketCompleted,
    TicketJoined,
    TicketMarkedNoShow,
    TicketRecalled,
    TicketTransferredIn,
)
from core.domain.model import QueueConfig, Ticket

MESSAGE_KINDS: dict[type[DomainEvent], str] = {
    TicketJoined: "joined",
    TicketCalled: "called",
    TicketRecalled: "recalled",
    TicketMarkedNoShow: "missed",
    TicketTransferredIn: "transferred",
    TicketCompleted: "done",
    TicketCancelled: "left",
}


@dataclass(frozen=True)
class NotificationIntent:
    kind: str
    channel: str
    recipient: str
    params: dict[str, Any]


def message_kind(event: DomainEvent, config: QueueConfig) -> str | None:
    if isinstance(event, PositionChanged):
        moved_closer = event.new_position < event.old_position
        return "close" if moved_closer and event.new_position in config.notify_positions else None
    return MESSAGE_KINDS.get(type(event))


def patient_channel(ticket: Ticket) -> tuple[str, str] | None:
    """Telegram when the patient joined there, SMS when only a phone number is known."""
    if ticket.telegram_chat_id is not None:
        return "telegram", str(ticket.telegram_chat_id)
    if ticket.phone:
        return "sms", ticket.phone
    return None


def intents_for(
    event: DomainEvent, ticket: Ticket, config: QueueConfig
) -> list[NotificationIntent]:
    kind = message_kind(event, config)
    channel = patient_channel(ticket)
    if kind is None or channel is None:
        return []
    params = {k: v for k, v in event.to_dict()["data"].items() if k not in ("actor",)}
    params["language"] = ticket.language or config.language
    return [NotificationIntent(kind, channel[0], channel[1], params)]
