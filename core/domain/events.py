"""Domain events, named in the past tense. Entrypoints and the bus see them as plain dicts."""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.domain.model import TicketStatus


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    queue: str
    at: datetime
    actor: str

    @classmethod
    def type_name(cls) -> str:
        """`TicketJoined` -> `ticket_joined`: the `type` field of bus and websocket messages."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, enum.Enum):
                value = value.value
            data[f.name] = value
        return {"type": self.type_name(), "queue": self.queue, "data": data}


@dataclass(frozen=True, kw_only=True)
class TicketEvent(DomainEvent):
    ticket_id: str
    number: str


@dataclass(frozen=True, kw_only=True)
class TicketStateChanged(TicketEvent):
    """Every change of a ticket's state; the audit trail records from/to."""

    from_status: TicketStatus | None
    to_status: TicketStatus


@dataclass(frozen=True, kw_only=True)
class TicketJoined(TicketStateChanged):
    position: int
    priority: int
    overflowed_from: str | None = None
    consent: str | None = None
    """How the patient asked to be messaged, when they can be (`core.domain.consent`)."""
    forced: bool = False
    """Staff added the patient while the queue was closed or closing (`"force": true`)."""


@dataclass(frozen=True, kw_only=True)
class TicketCalled(TicketStateChanged):
    counter: str
    position: int
    """Its place in line just before the call: the audit trail keeps where it was called from."""


@dataclass(frozen=True, kw_only=True)
class TicketRecalled(TicketStateChanged):
    counter: str
    recall_count: int


@dataclass(frozen=True, kw_only=True)
class TicketStarted(TicketStateChanged):
    counter: str


@dataclass(frozen=True, kw_only=True)
class TicketCompleted(TicketStateChanged):
    counter: str
    wait_s: float
    service_s: float


@dataclass(frozen=True, kw_only=True)
class TicketCancelled(TicketStateChanged):
    pass


@dataclass(frozen=True, kw_only=True)
class TicketMarkedNoShow(TicketStateChanged):
    counter: str


@dataclass(frozen=True, kw_only=True)
class TicketReturned(TicketStateChanged):
    position: int


@dataclass(frozen=True, kw_only=True)
class TicketTransferredOut(TicketStateChanged):
    to_queue: str


@dataclass(frozen=True, kw_only=True)
class TicketTransferredIn(TicketStateChanged):
    from_queue: str
    position: int


@dataclass(frozen=True, kw_only=True)
class PositionChanged(TicketEvent):
    """The patient has come close to the front: the "getting close" notice. Not sent for
    every move (the line's order is derived; `LineMoved` says it changed), only when the
    ticket reaches one of the queue's `notify_positions` nearer than `old_position`, the
    place the patient was last told (None: never told one)."""

    old_position: int | None
    new_position: int


@dataclass(frozen=True, kw_only=True)
class LineMoved(DomainEvent):
    """A command changed a queue's waiting line (its order or who is in it): one per queue
    and command, however many tickets moved. Subscribers read the new order from the
    queue's status; it is no ticket's event, so it has no audit or outbox row."""

    waiting: int


@dataclass(frozen=True, kw_only=True)
class TicketClosed(TicketStateChanged):
    """The queue closed for the day with the patient still waiting (`close_remaining`)."""


@dataclass(frozen=True, kw_only=True)
class QueuePaused(DomainEvent):
    """Staff stopped joins at once (an emergency, a fire drill); no ticket's event: the
    queue's own audit trail records it, and live pages show the queue paused."""

    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueueResumed(DomainEvent):
    """Staff let joins in again after a pause."""


@dataclass(frozen=True, kw_only=True)
class TicketDelayed(TicketEvent):
    """The patient said they are running late; the ticket moved back in the line."""

    delay_s: int
    late_count: int
    old_position: int
    new_position: int


@dataclass(frozen=True, kw_only=True)
class TicketServiceChosen(TicketEvent):
    """The patient said (or changed) what their visit is for: a kind of visit the queue
    offers, or None for "not sure". Their expected time changes, so the line may reorder
    (`short_first`) and the waits behind them change."""

    service: str | None
    previous_service: str | None
    old_position: int
    new_position: int


@dataclass(frozen=True, kw_only=True)
class TicketAcknowledged(TicketEvent):
    """The patient answered the call ("I'm on my way")."""

    counter: str


@dataclass(frozen=True, kw_only=True)
class TicketUnreachable(TicketEvent):
    """The call ladder ran out: neither the call, an SMS nor a voice call reached the
    patient. Staff decide (recall, wait, no-show) before the no-show grace ends."""

    counter: str


@dataclass(frozen=True, kw_only=True)
class TicketBroadcast(TicketEvent):
    """Staff sent the line a message (`Queue.broadcast`): one event per patient addressed,
    so each ticket's history says what its patient was told, by whom, and its notification
    row points at it."""

    text: str
    audience: str


@dataclass(frozen=True, kw_only=True)
class TicketRated(TicketEvent):
    score: int


@dataclass(frozen=True, kw_only=True)
class EtaRevised(TicketEvent):
    position: int
    eta_s: int
    eta_low_s: int
    eta_high_s: int
    previous_eta_s: int


@dataclass(frozen=True, kw_only=True)
class LeaveNowAdvised(TicketEvent):
    position: int
    eta_s: int
    eta_low_s: int
    eta_high_s: int
    travel_s: int
