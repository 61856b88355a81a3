"""From an outbox row's payload (seconds, ids, tokens) to the words a patient reads."""

from __future__ import annotations

import math
from typing import Any

from core.delivery import Outgoing
from core.messages import pick_language, render_notification, wait_minutes
from core.storage.models import OutboxMessage


def template_params(payload: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Minutes instead of seconds (a range rounded outwards), and the ticket page link."""
    params = dict(payload)
    low_s, high_s = payload.get("eta_low_s"), payload.get("eta_high_s")
    if low_s is not None and high_s is not None:
        params |= wait_minutes(low_s, high_s)
    if payload.get("travel_s") is not None:
        params["travel_min"] = math.ceil(payload["travel_s"] / 60)
    previous_s, eta_s = payload.get("previous_eta_s"), payload.get("eta_s")
    if previous_s is not None and eta_s is not None:
        params["direction"] = "sooner" if eta_s < previous_s else "later"
    token = payload.get("token")
    params["ticket_url"] = f"{base_url}/t/{token}" if token else None
    return params


def outgoing(row: OutboxMessage, base_url: str, default_language: str) -> Outgoing:
    payload = row.payload
    language = pick_language(payload.get("language"), default_language)
    rendered = render_notification(
        row.kind, row.channel, language, template_params(payload, base_url)
    )
    return Outgoing(row.id, row.channel, row.recipient, row.kind, rendered.text, rendered.buttons)
