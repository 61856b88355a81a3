"""Phone numbers in one form, E.164 (`+34600111222`), however staff or patients typed them.

The same patient must be recognised whether a nurse typed `600 111 222` into the console or
Twilio reported `+34600111222`, so every number is normalised before it is stored or
compared.
"""

from __future__ import annotations

import re

import phonenumbers

from core.domain.errors import InvalidValue

MAX_INPUT_CHARS = 32
PHONE_CHARS = re.compile(r"[0-9+ ().\-/]+")


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164, or InvalidValue saying what is wrong. A number without `+country code` is
    read as local to `default_region` (the `NEXTUP_PHONE_REGION` setting)."""
    text = raw.strip()
    if not text or len(text) > MAX_INPUT_CHARS:
        raise InvalidValue(f"phone: {raw[:MAX_INPUT_CHARS]!r} is not a phone number")
    if not PHONE_CHARS.fullmatch(text):
        raise InvalidValue(f"phone: {text!r} is not a phone number (digits, spaces, +()-. only)")
    if text.startswith("00"):  # the international call prefix most of the world dials
        text = "+" + text[2:]
    if not text.startswith("+") and default_region is None:
        raise InvalidValue(
            f"phone: {text!r} has no country code; write it as +<country code><number> "
            "(or set NEXTUP_PHONE_REGION for local numbers)"
        )
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidValue(f"phone: {text!r} is not a phone number") from None
    # "Possible" (the right length for its country) rather than "valid" (in an allocated
    # range): allocation tables lag behind carriers, and a wrong number is caught by Twilio
    # (error 21211), which the notification's record then shows to staff.
    if not phonenumbers.is_possible_number(number):
        raise InvalidValue(f"phone: {raw.strip()!r} is not a phone number of a possible length")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
