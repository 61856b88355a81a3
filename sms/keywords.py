"""What a patient's text message asks for, read the way people actually type on a phone.

The first word is the keyword, in any case, with or without accents, with stray spaces and
punctuation around it ("  join, pharm!" is `JOIN PHARM`, "Salír" is `SALIR`). The keywords
of each language are data, in the message catalogue (`templates/<lang>/keywords.json`);
the carriers' opt-out and opt-in words are not a language's and are always read. `JOIN CODE`
may go on with the kind of visit (`JOIN PHARM PICKUP`), and `KIND` (`TIPO`) names it while
waiting. A lone word
that could be a queue code joins that queue (the poster says "text PHARM"). Anything else is
answered with the help text.

The words that answer a call ("I'm on my way": the catalogue's `ack` words, `OK`, `SI` ...,
and the carriers' `YES`) mean that only while the sender's ticket is being called, and then
before anything else; `parse` marks them (`acknowledges`) and the conversation decides.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from core.domain.model import MAX_LATE_S, queue_code
from core.domain.numbers import whole_number
from core.messages import KeywordMeaning, fold_word, keywords

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
"""The carriers' opt-out words (US CTIA), which Twilio acts on and confirms itself, before we
see the text: read in every language, and never answered."""
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
"""The carriers' words that undo them (Twilio lifts its block on these)."""
CARRIER_ACK_WORDS = frozenset({"YES"})
"""A carriers' word that also answers a call while the sender is called (and then opts back
in too, as Twilio itself reads it); being a carriers' word, it cannot be in the catalogue's
`ack` lists."""
ACK = "ack"
"""The catalogue's key for the words that answer a call by text."""
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
    KIND = "kind"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    UNKNOWN = "unknown"


_READ = frozenset(Command) - {Command.UNKNOWN}


@dataclass(frozen=True)
class Keyword:
    command: Command
    queue: str | None = None
    """The queue code the patient named, upper-cased; None when they named none."""
    minutes: int | None = None
    """For LATE; None when the number given is not a usable one."""
    given_queue: str | None = None
    """What stood where a queue code belongs, for "we have no queue called …"."""
    language: str | None = None
    """The language the keyword is a word of (`ESTADO`: es); None for the carriers' words, a
    bare queue code and words several languages share."""
    carrier: bool = False
    """One of the carriers' words (`STOP`, `START` ...): Twilio acts on it, and confirms an
    opt-out itself."""
    acknowledges: bool = False
    """The first word answers a call (an `ack` word, or YES), if the sender is called."""
    kind_words: str | None = None
    """The kind of visit named (`JOIN PHARM PICKUP`, `KIND flu shot`), as typed after the
    keyword (and the queue code); None when none was named."""


def words(text: str) -> list[str]:
    """Upper-cased words, without the punctuation and spacing around them."""
    normal = unicodedata.normalize("NFKC", text[:READ_CHARS])
    return [w.strip("-_").upper() for w in _WORD.findall(normal) if w.strip("-_")]


def parse(text: str, table: Mapping[str, KeywordMeaning] | None = None) -> Keyword:
    """What `text` asks for, read with the catalogue's keywords (or `table`)."""
    found = words(text)
    if not found:
        return Keyword(Command.HELP)
    table = keywords() if table is None else table
    word = fold_word(found[0])
    keyword = _read(found, word, table)
    known = table.get(word)
    if word in CARRIER_ACK_WORDS or (known is not None and known.command == ACK):
        return dataclasses.replace(keyword, acknowledges=True)
    return keyword


def _read(found: list[str], keyword: str, table: Mapping[str, KeywordMeaning]) -> Keyword:
    """What the text asks for when it is no answer to a call."""
    first, rest = found[0], found[1:]
    if keyword in OPT_OUT_WORDS:
        return Keyword(Command.OPT_OUT, carrier=True)
    if keyword in OPT_IN_WORDS:
        return Keyword(Command.OPT_IN, carrier=True)
    meaning = _meaning(keyword, table)
    if meaning is not None:
        return _with_args(Command(meaning.command), rest, meaning.language)
    if len(found) == 1 and queue_code(first) and first.isascii() and not first.isdigit():
        return Keyword(Command.JOIN, queue=first, given_queue=first)
    return Keyword(Command.UNKNOWN)


def _meaning(word: str, table: Mapping[str, KeywordMeaning]) -> KeywordMeaning | None:
    """What the catalogue says `word` asks for, when it is a command read here; the `ack`
    words are no keyword of their own (they answer a call only while called)."""
    meaning = table.get(word)
    return meaning if meaning is not None and meaning.command in _READ else None


def _with_args(command: Command, rest: list[str], language: str | None) -> Keyword:
    if command is Command.LATE:
        return _late(rest, language)
    if command is Command.JOIN:
        joining = _with_queue(command, rest[:1], language)
        return dataclasses.replace(joining, kind_words=" ".join(rest[1:]) or None)
    if command is Command.LEAVE:
        return _with_queue(command, rest[:1], language)
    if command is Command.KIND:
        return Keyword(command, kind_words=" ".join(rest) or None, language=language)
    return Keyword(command, language=language)


def _with_queue(command: Command, args: list[str], language: str | None = None) -> Keyword:
    given = args[0] if args else None
    queue = queue_code(given) if given else None
    return Keyword(command, queue=queue, given_queue=given, language=language)


def _late(args: list[str], language: str | None) -> Keyword:
    """`LATE`, `LATE 20`, `LATE 20 PHARM` or `LATE PHARM 20`."""
    numbers = [n for n in map(whole_number, args) if n is not None]
    others = [a for a in args if whole_number(a) is None]
    minutes = numbers[0] if numbers else DEFAULT_LATE_MIN
    usable = minutes if 1 <= minutes <= MAX_LATE_MIN else None
    late = _with_queue(Command.LATE, others[:1])
    return Keyword(Command.LATE, late.queue, usable, late.given_queue, language)
