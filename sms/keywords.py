"""What a patient's text message asks for, read the way people actually type on a phone.

The first word is the keyword, in any case, with stray spaces and punctuation around it
("  join, pharm!" is `JOIN PHARM`). A lone word that could be a queue code joins that
queue (the poster says "text PHARM"). Anything else is answered with the help text.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from core.domain.model import MAX_LATE_S, queue_code
from core.domain.numbers import whole_number

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
ACK_WORDS = frozenset({"OK", "OKAY", "YES", "Y", "1", "SI", "SÍ", "VALE", "VOY"})
"""Words that answer a call by text ("I'm on my way"), in English and Spanish. They mean
that only while the sender's ticket is being called, and then before anything else: YES
while called acknowledges the call (and, as Twilio itself reads YES, opts back in too);
at any other time each means what it always did (YES: opt in; a lone word: a queue code;
else the help text)."""
DEFAULT_LATE_MIN = 15
"""`LATE` without a number: about a quarter of an hour."""
MAX_LATE_MIN = MAX_LATE_S // 60
READ_CHARS = 160
"""Only the start of a message is read: a keyword and two arguments fit in far less."""
_WORD = re.compile(r"[\w-]+")


class Command(StrEnum):
    JOIN = "join"
    STATUS = "status"
    LEAVE = "leave"
    LATE = "late"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Keyword:
    command: Command
    queue: str | None = None
    """The queue code the patient named, upper-cased; None when they named none."""
    minutes: int | None = None
    """For LATE; None when the number given is not a usable one."""
    given_queue: str | None = None
    """What stood where a queue code belongs, for "we have no queue called …"."""
    acknowledges: bool = False
    """The first word is one of ACK_WORDS: an answer to a call, if the sender is called."""


def words(text: str) -> list[str]:
    """Upper-cased words, without the punctuation and spacing around them."""
    normal = unicodedata.normalize("NFKC", text[:READ_CHARS])
    return [w.strip("-_").upper() for w in _WORD.findall(normal) if w.strip("-_")]


def parse(text: str) -> Keyword:
    found = words(text)
    if not found:
        return Keyword(Command.HELP)
    first = found[0]
    keyword = _meaning(first, found[1:], len(found))
    if first in ACK_WORDS:
        return dataclasses.replace(keyword, acknowledges=True)
    return keyword


def _meaning(first: str, rest: list[str], count: int) -> Keyword:
    """What the text asks for when it is no answer to a call."""
    if first in OPT_OUT_WORDS:
        return Keyword(Command.OPT_OUT)
    if first in OPT_IN_WORDS:
        return Keyword(Command.OPT_IN)
    if first in HELP_WORDS:
        return Keyword(Command.HELP)
    if first == "STATUS":
        return Keyword(Command.STATUS)
    if first == "JOIN":
        return _with_queue(Command.JOIN, rest[:1])
    if first == "LEAVE":
        return _with_queue(Command.LEAVE, rest[:1])
    if first == "LATE":
        return _late(rest)
    if count == 1 and queue_code(first) and first.isascii() and not first.isdigit():
        return Keyword(Command.JOIN, queue=first, given_queue=first)
    return Keyword(Command.UNKNOWN)


def _with_queue(command: Command, args: list[str]) -> Keyword:
    given = args[0] if args else None
    return Keyword(command, queue=queue_code(given) if given else None, given_queue=given)


def _late(args: list[str]) -> Keyword:
    """`LATE`, `LATE 20`, `LATE 20 PHARM` or `LATE PHARM 20`."""
    numbers = [n for n in map(whole_number, args) if n is not None]
    others = [a for a in args if whole_number(a) is None]
    minutes = numbers[0] if numbers else DEFAULT_LATE_MIN
    usable = minutes if 1 <= minutes <= MAX_LATE_MIN else None
    late = _with_queue(Command.LATE, others[:1])
    return Keyword(Command.LATE, late.queue, usable, late.given_queue)
