"""The patient message catalogue: Jinja2 templates per language, rendered for Telegram or SMS.

    from core.messages import render_notification
    rendered = render_notification("called", "telegram", "es", params)
    rendered.text, rendered.buttons

See `core.messages.catalogue` for the template layout, `core.messages.gsm` for SMS costs and
`core.messages.keywords` for the words patients text, per language, and
`core.messages.kinds` for the kinds of visit a queue offers.
"""

from core.messages.catalogue import (
    FALLBACK_LANGUAGE,
    LANGUAGE_NAMES,
    NOTIFICATION_KINDS,
    STAFF_MESSAGES,
    SUPPORTED_LANGUAGES,
    Button,
    Catalogue,
    Rendered,
    UnknownMessage,
    kind_label,
    label,
    pick_language,
    plural,
    render_notification,
    render_sms_reply,
    render_staff_message,
    render_text,
    template_params,
    under_a_minute,
    wait_minutes,
    wait_words,
)
from core.messages.gsm import is_gsm7, sms_segments
from core.messages.keywords import KeywordMeaning, fold_word, keyword_table, keywords
from core.messages.kinds import kind_choices, match_kind

__all__ = [
    "FALLBACK_LANGUAGE",
    "LANGUAGE_NAMES",
    "NOTIFICATION_KINDS",
    "STAFF_MESSAGES",
    "SUPPORTED_LANGUAGES",
    "Button",
    "Catalogue",
    "KeywordMeaning",
    "Rendered",
    "UnknownMessage",
    "fold_word",
    "is_gsm7",
    "keyword_table",
    "keywords",
    "kind_choices",
    "kind_label",
    "label",
    "match_kind",
    "pick_language",
    "plural",
    "render_notification",
    "render_sms_reply",
    "render_staff_message",
    "render_text",
    "sms_segments",
    "template_params",
    "under_a_minute",
    "wait_minutes",
    "wait_words",
]
