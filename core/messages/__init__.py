"""The patient message catalogue: Jinja2 templates per language, rendered for Telegram or SMS.

    from core.messages import render_notification
    rendered = render_notification("called", "telegram", "es", params)
    rendered.text, rendered.buttons

See `core.messages.catalogue` for the template layout and `core.messages.gsm` for SMS costs.
"""

from core.messages.catalogue import (
    LANGUAGE_NAMES,
    NOTIFICATION_KINDS,
    SUPPORTED_LANGUAGES,
    Button,
    Catalogue,
    Rendered,
    UnknownMessage,
    label,
    pick_language,
    plural,
    render_notification,
    render_sms_reply,
    render_text,
    template_params,
    under_a_minute,
    wait_minutes,
    wait_words,
)
from core.messages.gsm import is_gsm7, sms_segments

__all__ = [
    "LANGUAGE_NAMES",
    "NOTIFICATION_KINDS",
    "SUPPORTED_LANGUAGES",
    "Button",
    "Catalogue",
    "Rendered",
    "UnknownMessage",
    "is_gsm7",
    "label",
    "pick_language",
    "plural",
    "render_notification",
    "render_sms_reply",
    "render_text",
    "sms_segments",
    "template_params",
    "under_a_minute",
    "wait_minutes",
    "wait_words",
]
