"""How a patient asked to be messaged: the `consent` of a join, kept in the consent record
(and the join's audit row) for as long as the visit's personal data."""

from __future__ import annotations

SMS_KEYWORD = "sms_keyword"
TELEGRAM_DEEP_LINK = "telegram_deep_link"
TELEGRAM_COMMAND = "telegram_command"
STAFF_WALK_IN = "staff_walk_in"
WEB_JOIN = "web_join"

_BY_ACTOR = {
    "patient:sms": SMS_KEYWORD,
    "patient:telegram": TELEGRAM_COMMAND,
    "patient:web": WEB_JOIN,
}


def consent_of(actor: str) -> str:
    """The way of joining an actor stands for, when the entrypoint did not say more (a
    Telegram deep link says so itself): staff who add a walk-in with a phone number, from
    the console or the API, were asked by the patient at the counter."""
    return _BY_ACTOR.get(actor, STAFF_WALK_IN if actor.startswith("staff:") else actor[:32])
