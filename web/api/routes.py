"""REST API v1, as in the contract."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from core.domain.daily import last_day_over
from core.domain.errors import InvalidValue
from core.domain.hours import parse_closures, parse_hours
from core.domain.ladder import ladder_from
from core.domain.model import Counter, QueueConfig, Weights
from core.domain.notify import DeliveryStatus
from core.domain.queue import TRANSITIONS
from core.services.accounts import actor
from core.services.forecasts import two_hour_forecast
from core.services.privacy import Subject
from core.services.queues import (
    BroadcastSent,
    QueueService,
    checked_public_name,
    new_join_request,
)
from core.services.reports import analytics, daily_summary, hourly_metrics, parse_day
from core.storage import outbox
from core.storage.models import StaffAccount
from web.api import schemas
from web.api.endpoint import ADMIN, endpoint
from web.deps import container_of
from web.scope import visible
from web.serialize import (
    config_json,
    event_json,
    horizon_json,
    metric_json,
    notification_json,
    public_ticket_json,
    queue_json,
    status_json,
    ticket_json,
)

bp = Blueprint("api_v1", url_prefix="/api/v1")
UNKNOWN_QUEUE = {404: "queue_not_found"}
API_SENT_WAIT_S = 5.0
"""An erasure's wait for the patient's "left" message, short enough for an HTTP request."""


def service(request: Request) -> QueueService:
    return container_of(request).queues


@endpoint(bp, "GET", "/queues", "List queues", response="[Queue]")
async def list_queues(request: Request, account: StaffAccount) -> HTTPResponse:
    queues = visible(account, await service(request).list_queues())
    return json([queue_json(q) for q in queues])


@endpoint(
    bp,
    "POST",
    "/queues",
    "Create a queue",
    roles=ADMIN,
    body=schemas.QueueCreateBody,
    errors={409: "already_exists", 422: "validation_error, invalid_value"},
    response="Queue",
    status=201,
)
async def create_queue(request: Request, body: schemas.QueueCreateBody) -> HTTPResponse:
    config = QueueConfig(
        mode=body.mode,
        capacity=body.capacity,
        overflow_queue=body.overflow_queue,
        service_times_s=body.service_times_s,
        fairness_cap_s=body.fairness_cap_s,
        call_ladder=ladder_from(r.model_dump() for r in body.call_ladder),
    )
    info = await service(request).create_queue(
        body.code, body.name, body.prefix, config, body.counters, body.public_name
    )
    return json(queue_json(info), status=201)


@endpoint(bp, "GET", "/queues/<code>", "One queue", errors=UNKNOWN_QUEUE, response="Queue")
async def get_queue(request: Request, code: str) -> HTTPResponse:
    return json(queue_json(await service(request).get_queue(code)))


@endpoint(
    bp,
    "PATCH",
    "/queues/<code>",
    "Change a queue's name, public name, prefix, counters, mode or kinds of visit",
    roles=ADMIN,
    body=schemas.QueuePatchBody,
    errors={**UNKNOWN_QUEUE, 422: "validation_error, invalid_value"},
    response="Queue",
)
async def patch_queue(request: Request, code: str, body: schemas.QueuePatchBody) -> HTTPResponse:
    queues = service(request)
    counters = None
    if body.counters is not None:
        counters = [
            Counter(c, True) if isinstance(c, str) else Counter(c.name, c.is_open)
            for c in body.counters
        ]
    settings = body.config_changes()
    # The new configuration and public name are checked before anything is written.
    config = changed_config(await queues.get_config(code), settings) if settings else None
    renamed = "public_name" in body.model_fields_set
    public_name = checked_public_name(body.public_name) if renamed else None
    info = await queues.update_queue(code, body.name, body.prefix, counters)
    if config is not None:
        await queues.put_config(code, config)
        info = await queues.get_queue(code)
    if renamed:
        info = await queues.set_public_name(code, public_name)
    return json(queue_json(info))


@endpoint(
    bp,
    "GET",
    "/queues/<code>/status",
    "Live status: size, load, waiting line with ETAs",
    errors=UNKNOWN_QUEUE,
    response="QueueStatus",
)
async def queue_status(request: Request, code: str) -> HTTPResponse:
    return json(status_json(await service(request).status(code)))


@endpoint(
    bp,
    "GET",
    "/queues/<code>/forecast",
    "The next two hours: per 15-minute slot, the expected line length and the p90 wait of a "
    "patient joining in it, with the counters open now and with one more",
    errors=UNKNOWN_QUEUE,
    response="Forecast",
)
async def queue_forecast(request: Request, code: str) -> HTTPResponse:
    return json(horizon_json(await two_hour_forecast(service(request), code)))


@endpoint(
    bp,
    "POST",
    "/queues/<code>/tickets",
    "Join the queue (a walk-in added by staff); 200 with the patient's ticket when the same "
    "phone or Telegram chat already holds one in this queue",
    body=schemas.JoinBody,
    response="Ticket",
    status=201,
    errors={
        **UNKNOWN_QUEUE,
        409: "queue_full, queue_closed, queue_closing",
        422: "validation_error, invalid_value",
    },
)
async def join(
    request: Request, code: str, account: StaffAccount, body: schemas.JoinBody
) -> HTTPResponse:
    joined = await service(request).join(
        code, new_join_request(**body.model_dump()), actor(account)
    )
    return json(ticket_json(joined.ticket, joined.estimate), status=200 if joined.existing else 201)


@endpoint(
    bp,
    "POST",
    "/queues/<code>/call-next",
    "Call the next patient to a counter",
    body=schemas.CallNextBody,
    response="Ticket",
    errors={**UNKNOWN_QUEUE, 409: "queue_empty, counter_busy", 422: "unknown_counter"},
)
async def call_next(
    request: Request, code: str, account: StaffAccount, body: schemas.CallNextBody
) -> HTTPResponse:
    ticket = await service(request).call_next(code, body.counter, actor(account))
    return json(ticket_json(ticket))


@endpoint(
    bp,
    "POST",
    "/queues/<code>/pause",
    "Stop joins at once (an emergency, a fire drill) until resumed; patients who try to "
    "join are refused with `queue_closed` and the message",
    body=schemas.PauseBody,
    response="QueueStatus",
    errors={**UNKNOWN_QUEUE, 422: "validation_error, invalid_value"},
)
async def pause(
    request: Request, code: str, account: StaffAccount, body: schemas.PauseBody
) -> HTTPResponse:
    queues = service(request)
    await queues.pause(code, body.message, actor(account))
    return json(status_json(await queues.status(code)))


@endpoint(
    bp,
    "POST",
    "/queues/<code>/resume",
    "Let joins in again after a pause",
    errors=UNKNOWN_QUEUE,
    response="QueueStatus",
)
async def resume(request: Request, code: str, account: StaffAccount) -> HTTPResponse:
    queues = service(request)
    await queues.resume(code, actor(account))
    return json(status_json(await queues.status(code)))


@endpoint(
    bp,
    "POST",
    "/queues/<code>/reposition",
    "Announce the line as it stands now and send the notices due",
    errors=UNKNOWN_QUEUE,
    response="{waiting}",
)
async def reposition(request: Request, code: str, account: StaffAccount) -> HTTPResponse:
    waiting = await service(request).reposition(code, actor(account))
    return json({"waiting": waiting})


@endpoint(
    bp,
    "POST",
    "/queues/<code>/broadcast",
    "Send the patients in line (`to`: waiting or all live tickets) a message on their "
    "channel, through the outbox; recorded per ticket (event `ticket_broadcast`, "
    "notification kind `broadcast`) with the staff member as actor",
    body=schemas.BroadcastBody,
    response="{to, sent, by_channel: {telegram, sms}, unreachable}",
    errors={
        **UNKNOWN_QUEUE,
        422: "validation_error, invalid_value, broadcast_too_long (details: segments, "
        "max_segments, sms_patients)",
    },
)
async def broadcast(
    request: Request, code: str, account: StaffAccount, body: schemas.BroadcastBody
) -> HTTPResponse:
    sent = await service(request).broadcast(code, body.text, body.to, actor(account))
    return json(broadcast_json(sent))


def broadcast_json(sent: BroadcastSent) -> dict[str, Any]:
    return {
        "to": sent.audience.value,
        "sent": sent.sent,
        "by_channel": sent.by_channel,
        "unreachable": sent.unreachable,
    }


@endpoint(
    bp,
    "GET",
    "/queues/<code>/config",
    "Queue configuration",
    errors=UNKNOWN_QUEUE,
    response="Config",
)
async def get_config(request: Request, code: str) -> HTTPResponse:
    return json(config_json(await service(request).get_config(code)))


@endpoint(
    bp,
    "PUT",
    "/queues/<code>/config",
    "Change the configuration (fields left out stay)",
    roles=ADMIN,
    body=schemas.ConfigBody,
    response="Config",
    errors={**UNKNOWN_QUEUE, 422: "validation_error, invalid_value"},
)
async def put_config(request: Request, code: str, body: schemas.ConfigBody) -> HTTPResponse:
    queues = service(request)
    current = await queues.get_config(code)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"weights"})
    if body.weights is not None:
        changes["weights"] = Weights(**body.weights.model_dump())
    config = await queues.put_config(code, changed_config(current, changes))
    return json(config_json(config))


def changed_config(current: QueueConfig, changes: dict[str, Any]) -> QueueConfig:
    """`current` with the changes a request sent, checked by the domain's rules."""
    if "notify_positions" in changes:
        changes["notify_positions"] = tuple(changes["notify_positions"])
    if "call_ladder" in changes:
        changes["call_ladder"] = ladder_from(changes["call_ladder"])
    if changes.get("opening_hours") is not None:
        changes["opening_hours"] = parse_hours(changes["opening_hours"])
    if "closures" in changes:
        changes["closures"] = parse_closures(changes["closures"])
    return dataclasses.replace(current, **changes)


@endpoint(
    bp,
    "GET",
    "/queues/<code>/analytics",
    "Totals, averages, percentiles, per hour, per counter",
    query={"days": "integer, 1-366, default 7"},
    errors=UNKNOWN_QUEUE,
    response="Analytics",
)
async def queue_analytics(request: Request, code: str) -> HTTPResponse:
    days = int_arg(request, "days", 7)
    now = container_of(request).clock()
    return json(await analytics(code, days, now))


@endpoint(
    bp,
    "GET",
    "/queues/<code>/report",
    "The daily summary of one local day (the queue's time zone): visits, mean and p90 wait, "
    "no-shows, average rating, SMS segments, failed notifications",
    query={
        "day": "YYYY-MM-DD, default the last day over (closed for the day, else yesterday; local)"
    },
    errors={**UNKNOWN_QUEUE, 422: "invalid_value (a bad day)"},
    response="DailySummary",
)
async def queue_day_report(request: Request, code: str) -> HTTPResponse:
    raw = request.get_args(keep_blank_values=True).get("day")  # `day=` is a bad day
    if raw is None:
        schedule = (await service(request).get_queue(code)).config.schedule()
        day = last_day_over(container_of(request).clock(), schedule)
    else:
        day = parse_day(raw, "report's")
    return json((await daily_summary(code, day)).to_dict())


@endpoint(
    bp,
    "GET",
    "/queues/<code>/metrics",
    "Hourly metric rows",
    query={"since": "ISO 8601 time, default 24 h ago", "until": "ISO 8601, default now"},
    errors=UNKNOWN_QUEUE,
    response="[HourlyMetric]",
)
async def queue_metrics(request: Request, code: str) -> HTTPResponse:
    now: datetime = container_of(request).clock()
    until = time_arg(request, "until") or now
    since = time_arg(request, "since") or until - timedelta(days=1)
    rows = await hourly_metrics(code, since, until)
    return json([metric_json(r) for r in rows])


@endpoint(
    bp,
    "GET",
    "/tickets/<ticket_id>",
    "One ticket with its event history and the delivery record of every notification",
    errors={404: "ticket_not_found"},
    response="Ticket (with `unreachable_at`: when its call ladder ran out) + history + "
    "notifications (each with its `status`: "
    + ", ".join(DeliveryStatus)
    + "; `channel` telegram, sms or voice; a voice call's `provider_status` is "
    "Twilio's: queued, initiated, ringing, in-progress, completed, busy, no-answer, failed)",
)
async def get_ticket(request: Request, ticket_id: str) -> HTTPResponse:
    view = await service(request).ticket_view(ticket_id)
    return json(
        {
            **ticket_json(view.ticket, view.estimate),
            "history": [event_json(e) for e in view.history],
            "notifications": [notification_json(n) for n in await outbox.for_ticket(ticket_id)],
        }
    )


@endpoint(
    bp,
    "POST",
    "/tickets/<ticket_id>/<action>",
    "Act on a ticket: " + ", ".join(TRANSITIONS) + " (call needs counter, transfer queue)",
    body=schemas.TicketActionBody,
    response="Ticket",
    errors={
        404: "ticket_not_found, queue_not_found",
        409: "illegal_transition",
        422: "invalid_value, unknown_counter",
    },
)
async def ticket_action(
    request: Request,
    ticket_id: str,
    action: str,
    account: StaffAccount,
    body: schemas.TicketActionBody,
) -> HTTPResponse:
    ticket = await service(request).ticket_action(
        ticket_id, action, actor(account), counter=body.counter, to_queue=body.queue
    )
    return json(ticket_json(ticket))


@endpoint(
    bp,
    "GET",
    "/public/tickets/<token>",
    "A patient's own ticket (no auth)",
    roles=None,
    errors={404: "ticket_not_found"},
    response="PublicTicket",
)
async def public_ticket(request: Request, token: str) -> HTTPResponse:
    view = await service(request).ticket_view(token=token, with_history=False)
    return json(public_ticket_json(view.ticket, view.estimate))


@endpoint(
    bp,
    "POST",
    "/privacy/export",
    "Everything held about one person (an access request); the request is logged",
    roles=ADMIN,
    body=schemas.PrivacySubjectBody,
    errors={422: "validation_error, invalid_value"},
    response="PrivacyExport",
)
async def privacy_export(
    request: Request, account: StaffAccount, body: schemas.PrivacySubjectBody
) -> HTTPResponse:
    container = container_of(request)
    subject = Subject.of(body.phone, body.telegram_chat_id, container.settings.phone_region)
    return json(await container.privacy.export(subject, actor(account)))


@endpoint(
    bp,
    "POST",
    "/privacy/erase",
    "Erase one person's data now (a live ticket is cancelled first, and they are told)",
    roles=ADMIN,
    body=schemas.PrivacySubjectBody,
    errors={422: "validation_error, invalid_value"},
    response="{erased: {kind: count}}",
)
async def privacy_erase(
    request: Request, account: StaffAccount, body: schemas.PrivacySubjectBody
) -> HTTPResponse:
    container = container_of(request)
    subject = Subject.of(body.phone, body.telegram_chat_id, container.settings.phone_region)
    erased = await container.privacy.erase(subject, actor(account), API_SENT_WAIT_S)
    return json({"erased": dict(erased)})


def int_arg(request: Request, name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValue(f"{name} must be an integer, got {raw!r}") from None


def time_arg(request: Request, name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(f"{name} must be an ISO 8601 time, got {raw!r}") from None
    try:
        schemas.check_time(value)
    except ValueError as exc:
        raise InvalidValue(f"{name} {exc}") from None
    # In UTC: SQLite compares stored times as text, so another offset would compare wrongly.
    return value.astimezone(UTC)
