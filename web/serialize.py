"""Domain objects to JSON for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.domain.eta import Eta, ServiceTime
from core.domain.horizon import Horizon
from core.domain.hourly import HourlyTally
from core.domain.model import QueueConfig, Ticket
from core.services.queues import QueueInfo, QueueStatus
from core.storage.mapping import config_settings
from core.storage.models import HourlyMetric, OutboxMessage, TicketEventRow


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def eta_fields(estimate: Eta | None) -> dict[str, int | None]:
    if estimate is None:
        return {"eta_s": None, "eta_low_s": None, "eta_high_s": None}
    return {"eta_s": estimate.eta_s, "eta_low_s": estimate.low_s, "eta_high_s": estimate.high_s}


def config_json(config: QueueConfig) -> dict[str, Any]:
    return {
        "weights": {
            "priority": config.weights.priority,
            "wait_time": config.weights.wait_time,
            "appointment": config.weights.appointment,
        },
        **config_settings(config),
    }


def queue_json(info: QueueInfo) -> dict[str, Any]:
    return {
        "code": info.code,
        "name": info.name,
        "public_name": info.public_name,
        "prefix": info.prefix,
        "mode": info.config.mode.value,
        "capacity": info.config.capacity,
        "overflow_queue": info.config.overflow_queue,
        "counters": [{"name": c.name, "is_open": c.is_open} for c in info.counters],
        "service_times_s": dict(info.config.service_times_s),
        "fairness_cap_s": info.config.fairness_cap_s,
    }


def ticket_json(ticket: Ticket, estimate: Eta | None = None) -> dict[str, Any]:
    """What staff see. Never the patient-page token: it is the patient's key, and staff who
    held it could act as the patient (the console links to the page for them instead)."""
    return {
        "id": ticket.id,
        "queue": ticket.queue,
        "number": ticket.number,
        "status": ticket.status.value,
        "position": ticket.position,
        **eta_fields(estimate),
        "priority": ticket.priority,
        "counter": ticket.counter,
        "joined_at": iso(ticket.joined_at),
        "appointment_at": iso(ticket.appointment_at),
        "called_at": iso(ticket.called_at),
        "started_at": iso(ticket.started_at),
        "finished_at": iso(ticket.finished_at),
        "recall_count": ticket.recall_count,
        "name": ticket.name,
        "phone": ticket.phone,
        "telegram_chat_id": ticket.telegram_chat_id,
        "language": ticket.language,
        "late_count": ticket.late_count,
        "travel_s": ticket.travel_s,
        "acknowledged_at": iso(ticket.acknowledged_at),
        "unreachable_at": iso(ticket.unreachable_at),
        "rating": ticket.rating,
        "service": ticket.service,
    }


def public_ticket_json(ticket: Ticket, estimate: Eta | None) -> dict[str, Any]:
    """Only what the patient holding the token may see: nothing about anyone else."""
    return {
        "queue": ticket.queue,
        "number": ticket.number,
        "status": ticket.status.value,
        "position": ticket.position,
        **eta_fields(estimate),
        "counter": ticket.counter,
        "joined_at": iso(ticket.joined_at),
        "called_at": iso(ticket.called_at),
        "service": ticket.service,
    }


def notification_json(row: OutboxMessage) -> dict[str, Any]:
    """A delivery record: what was sent where, and what became of it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "channel": row.channel,
        "delivered_to": row.delivered_to,
        "status": row.status,
        "attempts": row.attempts,
        "provider_message_id": row.provider_message_id,
        "last_error": row.last_error,
        "provider_status": row.provider_status,
        "provider_error_code": row.provider_error_code,
        "segments": row.segments,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
        "acknowledged_at": iso(row.acknowledged_at),
    }


def event_json(row: TicketEventRow) -> dict[str, Any]:
    return {
        "type": row.type,
        "at": iso(row.at),
        "actor": row.actor,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "old_position": row.old_position,
        "new_position": row.new_position,
        "counter": row.counter,
        "data": row.data,
    }


def status_json(status: QueueStatus) -> dict[str, Any]:
    queue = status.queue
    return {
        "code": queue.code,
        "size": queue.size(),
        "capacity": queue.config.capacity,
        "load_factor": queue.load_factor(),
        "avg_wait_s": round(status.avg_wait_s, 1),
        "open_counters": queue.open_counters(),
        "service_time": service_time_json(status.service_time),
        "service_times_by_kind": {
            kind: service_time_json(learned)
            for kind, learned in sorted(queue.service_times_by_kind.items())
        },
        "waiting": [
            {
                "id": t.id,
                "number": t.number,
                "position": t.position,
                **eta_fields(status.estimates.get(t.id)),
                "priority": t.priority,
                "service": t.service,
            }
            for t in queue.waiting()
        ],
        "serving": [
            {
                "id": t.id,
                "number": t.number,
                "status": t.status.value,
                "counter": t.counter,
                "called_at": iso(t.called_at),
                "service": t.service,
            }
            for t in sorted(queue.at_counters(), key=lambda t: t.called_at or t.joined_at)
        ],
        **opening_json(status),
        "updated_at": iso(status.updated_at),
    }


def opening_json(status: QueueStatus) -> dict[str, Any]:
    """Whether the queue takes patients now (`Queue.opening`), for the status and the
    pages: `open`, `opens_at`, `closes_at`, and `paused` (`{"at", "by", "message"}`)."""
    opening = status.queue.opening(status.updated_at)
    pause = opening.pause
    return {
        "open": opening.open,
        "opens_at": iso(opening.opens_at),
        "closes_at": iso(opening.closes_at),
        "paused": None
        if pause is None
        else {"at": iso(pause.at), "by": pause.by, "message": pause.message},
    }


def service_time_json(learned: ServiceTime) -> dict[str, Any]:
    return {"mean_s": round(learned.mean_s, 1), "basis": learned.basis, "samples": learned.samples}


def metric_json(row: HourlyMetric) -> dict[str, Any]:
    tally = HourlyTally.of_record(row)  # the averages are defined once, in the domain
    return {
        "hour_start": iso(tally.hour_start),
        "joined": tally.joined,
        "called": tally.called,
        "completed": tally.completed,
        "no_shows": tally.no_shows,
        "cancelled": tally.cancelled,
        "avg_wait_s": tally.avg_wait_s,
        "max_wait_s": tally.wait_s_max,
        "avg_service_s": tally.avg_service_s,
        "peak_size": tally.peak_size,
        "avg_size": tally.avg_size,
    }


def horizon_json(horizon: Horizon) -> dict[str, Any]:
    """`GET /api/v1/queues/{code}/forecast` and the board's chart: the next two hours."""
    return {
        "generated_at": horizon.generated_at.isoformat(),
        "open_counters": horizon.open_counters,
        "slots": [
            {
                "start": slot.start.isoformat(),
                "end": slot.end.isoformat(),
                "open": slot.open,
                "line_length": slot.line_length,
                "p90_wait_s": slot.p90_wait_s,
                "line_length_plus_one": slot.line_length_plus_one,
                "p90_wait_s_plus_one": slot.p90_wait_s_plus_one,
            }
            for slot in horizon.slots
        ],
    }
