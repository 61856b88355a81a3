"""How many SMS segments a text costs (GSM 03.38).

A text made only of GSM-7 characters is sent in 7-bit septets: 160 in one segment, 153 per
segment once it is split (the user data header takes the rest). The extension table
(`{`, `}`, `[`, `]`, `~`, `\\`, `|`, `^`, `€`, form feed) costs two septets each: an escape
and the character. Any other character makes the whole text UCS-2: 70 UTF-16 code units in
one segment, 67 per segment when split, and a character outside the BMP (most emoji) takes
two units.

Senders never cut an escape pair or a surrogate pair between two segments, so a split text
can take one segment more than a plain division suggests; this module counts the way they do.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The basic character set, without the escape code itself (0x1B)."""
GSM7_EXTENSION = frozenset("\f^{}\\[]~|€")
"""Characters of the extension table: each is sent as escape + character (two septets)."""

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic set or its extension table."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _units(text: str) -> list[int]:
    """The cost of each character in the encoding the text will be sent in."""
    if is_gsm7(text):
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def sms_segments(text: str) -> int:
    """The number of segments `text` is sent in; 0 for an empty text."""
    if not text:
        return 0
    single, part = (GSM7_SINGLE, GSM7_PART) if is_gsm7(text) else (UCS2_SINGLE, UCS2_PART)
    units = _units(text)
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for cost in units:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return segments
