"""What the console's queue board shows: one read of the queue, shaped for the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.domain.load import utilisation
from core.domain.model import MAX_PRIORITY, Ticket, TicketStatus
from core.domain.notify import DeliveryStatus
from core.domain.queue import CounterPlan, CounterState
from core.services.queues import QueueInfo, QueueService, QueueStatus
from core.storage import outbox, ticket_reads
from core.storage.mapping import ticket_from_row
from core.storage.models import OutboxMessage

PRIORITY_LABELS = {0: "routine", 1: "elevated", 2: "urgent", 3: "emergency"}
"""The one word for each priority, wherever the console shows one (`priority_label`)."""
assert len(PRIORITY_LABELS) == MAX_PRIORITY + 1


def priority_label(priority: int) -> str:
    return PRIORITY_LABELS.get(priority, str(priority))


RECENT_MISSED = timedelta(hours=12)
"""No-shows this recent are listed with a "return" button: the patient may still turn up."""
RECENT_MISSED_SHOWN = 20


@dataclass(frozen=True)
class Delivery:
    """The last message sent about a ticket, as staff need to know it."""

    kind: str
    channel: str
    state: str
    """`queued`, `sent`, `delivered`, `failed`, ... in words staff read."""
    ok: bool | None


@dataclass(frozen=True)
class Row:
    ticket: Ticket
    wait_s: float
    eta_low_s: int | None
    eta_high_s: int | None
    channel: str
    delivery: Delivery | None

    @property
    def priority_label(self) -> str:
        return priority_label(self.ticket.priority)


@dataclass(frozen=True)
class Board:
    info: QueueInfo
    status: QueueStatus
    waiting: list[Row]
    at_counters: list[Row]
    missed: list[Ticket]
    longest_wait_s: float
    wait_alert_s: int
    other_queues: list[str]

    @property
    def alert(self) -> bool:
        return self.longest_wait_s > self.wait_alert_s

    @property
    def utilisation(self) -> float | None:
        """Size against capacity; None for a queue without a capacity."""
        queue = self.status.queue
        return utilisation(queue.size(), queue.config.capacity) if queue.config.capacity else None

    @property
    def load_level(self) -> str:
        """Green, amber or red, as the gauge colours the load factor (1.0 to 2.0)."""
        factor = self.status.queue.load_factor()
        return "high" if factor >= 1.5 else "medium" if factor > 1.0 else "low"

    @property
    def open_counters(self) -> list[str]:
        return [c.name for c in self.info.counters if c.is_open]

    @property
    def call_buttons(self) -> list[CallButton]:
        """One "call next" per open counter, saying what it will do there (the domain's
        rule: finish the patient being served first, or wait for one called)."""
        queue = self.status.queue
        waiting = queue.size() > 0
        return [
            CallButton(name, queue.counter_state(name), waiting)
            for name in self.open_counters
            if name in queue.counters
        ]


@dataclass(frozen=True)
class CallButton:
    counter: str
    state: CounterState
    anyone_waiting: bool

    @property
    def enabled(self) -> bool:
        return self.anyone_waiting and self.state.plan is not CounterPlan.BUSY

    @property
    def label(self) -> str:
        ticket = self.state.ticket
        if self.state.plan is CounterPlan.FINISH_FIRST and ticket is not None:
            return f"Finish {ticket.number} & call next"
        return "Call next"

    @property
    def reason(self) -> str | None:
        """Why the button is disabled, shown under it; None when it is enabled."""
        ticket = self.state.ticket
        if self.state.plan is CounterPlan.BUSY and ticket is not None:
            return f"{ticket.number} called, not here yet: start, no-show or return first"
        if not self.anyone_waiting:
            return "nobody waiting"
        return None


def channel_of(ticket: Ticket) -> str:
    if ticket.telegram_chat_id is not None:
        return "telegram"
    return "sms" if ticket.phone else "none"


def delivery_of(row: OutboxMessage) -> Delivery:
    state = row.provider_status or row.status
    if row.delivered_to == "dev_inbox" and row.status == DeliveryStatus.SENT:
        state = "in dev inbox"
    # The patient answered ("I'm on my way"): the best a message can do, shown as such.
    ok = {
        "delivered": True,
        "read": True,
        "sent": True,
        "in dev inbox": True,
        "acknowledged": True,
        "completed": True,  # a voice call answered
    }.get(state)
    if row.status in {DeliveryStatus.FAILED, DeliveryStatus.SUPPRESSED} or state in {
        "undelivered",
        "failed",
        "busy",
        "no-answer",
    }:
        ok = False
    return Delivery(row.kind, row.channel, state, ok)


async def last_deliveries(ticket_ids: list[str]) -> dict[str, Delivery]:
    """One query for the whole board."""
    if not ticket_ids:
        return {}
    rows = await outbox.for_tickets(ticket_ids)
    return {row.ticket_id: delivery_of(row) for row in rows if row.ticket_id}  # type: ignore[attr-defined]


async def load_board(queues: QueueService, code: str, all_codes: list[str]) -> Board:
    info = await queues.get_queue(code)
    status = await queues.status(code)
    now: datetime = status.updated_at
    live = status.queue.waiting() + sorted(
        status.queue.at_counters(), key=lambda t: t.called_at or t.joined_at
    )
    deliveries = await last_deliveries([t.id for t in live])

    def row(ticket: Ticket) -> Row:
        estimate = status.estimates.get(ticket.id)
        return Row(
            ticket,
            (now - ticket.joined_at).total_seconds(),
            estimate.low_s if estimate else None,
            estimate.high_s if estimate else None,
            channel_of(ticket),
            deliveries.get(ticket.id),
        )

    waiting = [row(t) for t in status.queue.waiting()]
    at_counters = [row(t) for t in live if t.status is not TicketStatus.WAITING]
    missed_rows = await ticket_reads.finished_since(
        code, TicketStatus.NO_SHOW.value, now - RECENT_MISSED, RECENT_MISSED_SHOWN
    )
    return Board(
        info=info,
        status=status,
        waiting=waiting,
        at_counters=at_counters,
        missed=[ticket_from_row(r, code) for r in missed_rows],
        longest_wait_s=max((r.wait_s for r in waiting), default=0.0),
        wait_alert_s=info.config.wait_alert_s,
        other_queues=[c for c in all_codes if c != code],
    )


def board_context(board: Board) -> dict[str, Any]:
    return {"board": board, "queue": board.info, "priorities": PRIORITY_LABELS}
