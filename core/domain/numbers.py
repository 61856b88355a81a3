"""Numbers as people type them in a text message or a chat command."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")
MAX_DIGITS = 9
TOO_LARGE = 10**MAX_DIGITS
"""What a longer number reads as: beyond every range a caller accepts, and cheap to make
(int() of thousands of digits is slow, and refused past 4,300)."""


def whole_number(raw: str) -> int | None:
    """`20` → 20; None when `raw` is not ASCII digits. `str.isdigit` is no test for this: it
    also takes `²` and the Tai Lue digit `᧚`, on which int() fails."""
    if not _DIGITS.fullmatch(raw):
        return None
    digits = raw.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_DIGITS else TOO_LARGE
