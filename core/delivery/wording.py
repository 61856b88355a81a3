"""From an outbox row to the words a patient reads."""

from __future__ import annotations

from core.delivery import Outgoing
from core.messages import pick_language, render_notification, template_params
from core.storage.models import OutboxMessage


def outgoing(row: OutboxMessage, base_url: str, default_language: str) -> Outgoing:
    payload = row.payload
    language = pick_language(payload.get("language"), default_language)
    rendered = render_notification(
        row.kind, row.channel, language, template_params(payload, base_url)
    )
    return Outgoing(
        row.id, row.channel, row.recipient, row.kind, rendered.text, rendered.buttons, language
    )
