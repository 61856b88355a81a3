"""From an outbox row to the words a patient (or a staff chat) reads."""

from __future__ import annotations

from core.delivery import Outgoing
from core.messages import (
    STAFF_MESSAGES,
    pick_language,
    render_notification,
    render_staff_message,
    template_params,
)
from core.storage.models import OutboxMessage


def outgoing(row: OutboxMessage, base_url: str, default_language: str) -> Outgoing:
    payload = row.payload
    language = pick_language(payload.get("language"), default_language)
    if row.kind in STAFF_MESSAGES:  # to a staff chat: the queue's real name, no buttons
        text = render_staff_message(row.kind, language, payload)
        return Outgoing(row.id, row.channel, row.recipient, row.kind, text, (), language)
    rendered = render_notification(
        row.kind, row.channel, language, template_params(payload, base_url)
    )
    return Outgoing(
        row.id, row.channel, row.recipient, row.kind, rendered.text, rendered.buttons, language
    )
