"""Rows to domain objects and back."""

from __future__ import annotations

from typing import Any

from core.domain.model import Counter, QueueConfig, QueueMode, Ticket, TicketStatus, Weights
from core.domain.queue import Queue
from core.storage.models import CounterRow, QueueConfigRow, QueueRow, TicketRow

TICKET_FIELDS = (
    "queue",
    "number",
    "seq",
    "token",
    "status",
    "priority",
    "joined_at",
    "line_at",
    "appointment_at",
    "position",
    "counter",
    "called_at",
    "recalled_at",
    "started_at",
    "finished_at",
    "recall_count",
    "name",
    "phone",
    "telegram_chat_id",
    "language",
)


def config_from_row(row: QueueConfigRow) -> QueueConfig:
    return QueueConfig(
        mode=QueueMode(row.mode),
        weights=Weights(row.weight_priority, row.weight_wait_time, row.weight_appointment),
        capacity=row.capacity,
        overflow_queue=row.overflow_queue,
        notify_positions=tuple(row.notify_positions),
        no_show_grace_s=row.no_show_grace_s,
        default_service_s=row.default_service_s,
        wait_horizon_s=row.wait_horizon_s,
        appointment_window_s=row.appointment_window_s,
        timezone=row.timezone,
        language=row.language,
    )


def config_columns(config: QueueConfig) -> dict[str, Any]:
    return {
        "mode": config.mode.value,
        "weight_priority": config.weights.priority,
        "weight_wait_time": config.weights.wait_time,
        "weight_appointment": config.weights.appointment,
        "capacity": config.capacity,
        "overflow_queue": config.overflow_queue,
        "notify_positions": list(config.notify_positions),
        "no_show_grace_s": config.no_show_grace_s,
        "default_service_s": config.default_service_s,
        "wait_horizon_s": config.wait_horizon_s,
        "appointment_window_s": config.appointment_window_s,
        "timezone": config.timezone,
        "language": config.language,
    }


def ticket_from_row(row: TicketRow, queue_code: str) -> Ticket:
    return Ticket(
        id=row.id,
        queue=queue_code,
        number=row.number,
        seq=row.seq,
        token=row.token,
        joined_at=row.joined_at,
        line_at=row.line_at,
        status=TicketStatus(row.status),
        priority=row.priority,
        appointment_at=row.appointment_at,
        position=row.position,
        counter=row.counter,
        called_at=row.called_at,
        recalled_at=row.recalled_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        recall_count=row.recall_count,
        name=row.name,
        phone=row.phone,
        telegram_chat_id=row.telegram_chat_id,
        language=row.language,
    )


def ticket_columns(ticket: Ticket) -> dict[str, Any]:
    """Column values of a ticket, except its queue (a foreign key the caller resolves)."""
    values = {name: getattr(ticket, name) for name in TICKET_FIELDS if name != "queue"}
    values["status"] = ticket.status.value
    return values


def queue_from_rows(
    row: QueueRow, config: QueueConfigRow, counters: list[CounterRow], tickets: list[TicketRow]
) -> Queue:
    return Queue(
        code=row.code,
        prefix=row.prefix,
        config=config_from_row(config),
        counters={c.name: Counter(c.name, c.is_open) for c in counters},
        tickets={t.id: ticket_from_row(t, row.code) for t in tickets},
        day_seq=row.day_seq,
        day_seq_date=row.day_seq_date,
    )
