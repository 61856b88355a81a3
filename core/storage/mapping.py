"""Rows to domain objects and back."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from typing import Any

from core.domain.hours import parse_closures, parse_hours
from core.domain.ladder import ladder_from
from core.domain.model import OnClose, QueueConfig, QueueMode, Ticket, TicketStatus, Weights
from core.storage.models import QueueConfigRow, TicketRow

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
    "late_count",
    "travel_s",
    "announced_eta_s",
    "announced_at",
    "leave_now_sent",
    "acknowledged_at",
    "rating",
    "service",
    "fifo_call_at",
    "fifo_call_no",
    "told_position",
    "unreachable_at",
)
"""The stored fields of a ticket. Not its `position`: that is derived by ranking the line
(`Queue.rank`), so a ticket whose only change is its place in line is not written."""
STORED_TICKET_FIELDS = tuple(name for name in TICKET_FIELDS if name != "queue")
"""The ticket's columns beside its id, queue and version, in the order the command path's
queries list them (`core.storage.command_sql`): a field stored is a field in TICKET_FIELDS."""
stored_ticket_values = operator.attrgetter(*STORED_TICKET_FIELDS)
"""A ticket's STORED_TICKET_FIELDS as a tuple: compared with the tuple it was loaded from
to tell whether it changed."""


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
        eta_change_margin_s=row.eta_change_margin_s,
        eta_update_interval_s=row.eta_update_interval_s,
        wait_alert_s=row.wait_alert_s,
        service_times_s=dict(row.service_times_s),
        fairness_cap_s=row.fairness_cap_s,
        call_ladder=ladder_from(row.call_ladder),
        opening_hours=None if row.opening_hours is None else parse_hours(row.opening_hours),
        closures=parse_closures(row.closures),
        refuse_past_closing=row.refuse_past_closing,
        on_close=OnClose(row.on_close),
    )


def config_columns(config: QueueConfig) -> dict[str, Any]:
    return {
        "weight_priority": config.weights.priority,
        "weight_wait_time": config.weights.wait_time,
        "weight_appointment": config.weights.appointment,
        **config_settings(config),
    }


def config_settings(config: QueueConfig) -> dict[str, Any]:
    """Every setting but the weights, by the names both the table and the API use."""
    return {
        "mode": config.mode.value,
        "capacity": config.capacity,
        "overflow_queue": config.overflow_queue,
        "notify_positions": list(config.notify_positions),
        "no_show_grace_s": config.no_show_grace_s,
        "default_service_s": config.default_service_s,
        "wait_horizon_s": config.wait_horizon_s,
        "appointment_window_s": config.appointment_window_s,
        "timezone": config.timezone,
        "language": config.language,
        "eta_change_margin_s": config.eta_change_margin_s,
        "eta_update_interval_s": config.eta_update_interval_s,
        "wait_alert_s": config.wait_alert_s,
        "service_times_s": dict(config.service_times_s),
        "fairness_cap_s": config.fairness_cap_s,
        "call_ladder": [rung.to_dict() for rung in config.call_ladder],
        "opening_hours": None if config.opening_hours is None else config.opening_hours.to_json(),
        "closures": [day.isoformat() for day in config.closures],
        "refuse_past_closing": config.refuse_past_closing,
        "on_close": config.on_close.value,
    }


def ticket_from_row(row: TicketRow, queue_code: str) -> Ticket:
    values = {name: getattr(row, name) for name in TICKET_FIELDS if name != "queue"}
    values["status"] = TicketStatus(row.status)
    return Ticket(id=row.id, queue=queue_code, **values)


def ticket_from_values(queue_code: str, ticket_id: str, values: Sequence[Any]) -> Ticket:
    """A ticket from its STORED_TICKET_FIELDS' values, as a row of the tickets table holds
    them. Made without `Ticket.__init__`, which took half the time of loading a long line:
    the values were checked when they were stored. Filled in place, with the status looked
    up rather than through the enum's call, into a copy of a template holding every field:
    a command makes one per live ticket."""
    fields = _TICKET_TEMPLATE.copy()
    fields.update(zip(STORED_TICKET_FIELDS, values, strict=True))
    fields["id"], fields["queue"] = ticket_id, queue_code
    fields["status"] = _STATUSES[fields["status"]]
    ticket = object.__new__(Ticket)
    ticket.__dict__ = fields
    return ticket


_STATUSES = {status.value: status for status in TicketStatus}
_STORED = {"id", *TICKET_FIELDS}
_TICKET_TEMPLATE: dict[str, Any] = {
    field.name: None if field.name in _STORED else field.default
    for field in dataclasses.fields(Ticket)
}
"""Every field of a ticket in the order `Ticket.__init__` sets them: the stored ones are
filled in, the others start at their defaults, as a new ticket's do."""
if dataclasses.MISSING in _TICKET_TEMPLATE.values():
    raise TypeError("a ticket field that is not stored needs a plain default")


def ticket_columns(ticket: Ticket) -> dict[str, Any]:
    """Column values of a ticket, except its queue (a foreign key the caller resolves)."""
    values = {name: getattr(ticket, name) for name in TICKET_FIELDS if name != "queue"}
    values["status"] = ticket.status.value
    return values
