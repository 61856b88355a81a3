"""What log lines may say about patients: phone numbers and patient-page tokens masked.

One helper for every log line that could carry either, so a log shipped to a third party (or
read over a shoulder) gives away neither a number nor the key to someone's ticket.
"""

from __future__ import annotations

import re

PHONE = re.compile(r"\+\d{7,15}\b|\b\d{9,15}\b")
"""A number in E.164 (as stored), or a long run of digits (one typed without +, a chat id);
not times, dates or counts."""
TOKEN_IN_PATH = re.compile(r"(/(?:t|ws/tickets|api/v1/public/tickets)/)([^/?#\s\"'<>]+)")
KEPT_DIGITS = 2
KEPT_TOKEN = 4


def mask_phone(phone: str) -> str:
    """`+15550100123` -> `+1•••••••23`: the country, the last two digits, nothing else."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= KEPT_DIGITS + 1:
        return "•" * len(digits)
    head = "+" + digits[0] if phone.strip().startswith("+") else digits[0]
    return head + "•" * (len(digits) - 1 - KEPT_DIGITS) + digits[-KEPT_DIGITS:]


def mask_token(token: str) -> str:
    return token[:KEPT_TOKEN] + "…" if len(token) > KEPT_TOKEN else "…"


def redact(text: str) -> str:
    """`text` with every phone number and every patient-page token in a URL masked."""
    text = TOKEN_IN_PATH.sub(lambda m: m[1] + mask_token(m[2]), text)
    return PHONE.sub(lambda m: mask_phone(m[0]), text)
