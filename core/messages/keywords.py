"""The words a patient may text, per language: `templates/<lang>/keywords.json`.

    {"join": ["UNIRSE", "COLA"], "status": ["ESTADO"], ...}

Each key names a command of the SMS conversation (`sms.keywords.Command`), each value the
words that ask for it in that language. Words are compared as `fold_word` leaves them (upper
case, no accents), so the file may spell them either way. A word means one command in every
language (a clash stops the load: a patient could not know what they asked for); a word that
two languages share for the same command belongs to neither, and the reply language is then
chosen as for a word of no language. Adding a language is adding its file (and its code to
`SUPPORTED_LANGUAGES`).

The `ack` key is kept for the words that answer a call by text (`OK`, `SI` ...); a command the
SMS conversation does not know yet is read but not acted on.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.messages.catalogue import SUPPORTED_LANGUAGES, TEMPLATES

KEYWORDS_FILE = "keywords.json"
_ONE_WORD = re.compile(r"\s*[\w-]+\s*\Z")
"""A keyword is the first word of a text, so one word (as `sms.keywords.words` splits)."""


@dataclass(frozen=True)
class KeywordMeaning:
    command: str
    """A key of `keywords.json`: `join`, `status`, `opt_out` ..."""
    language: str | None
    """The one language whose file lists the word; None when several list it."""


def fold_word(word: str) -> str:
    """`word` as keywords are compared: upper case, accents dropped ("Salír" is SALIR), so a
    phone that adds or leaves out an accent reads the same."""
    decomposed = unicodedata.normalize("NFKD", word.upper())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def load_keywords(root: Path, language: str) -> dict[str, tuple[str, ...]]:
    """The command -> words table of one language (folded words); empty when it has none."""
    path = root / language / KEYWORDS_FILE
    if not path.is_file():
        return {}
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(words, list) and all(isinstance(w, str) and _ONE_WORD.match(w) for w in words)
        for words in data.values()
    ):
        raise ValueError(f"{path}: expected {{command: [word, ...]}}, one word each")
    return {command: tuple(fold_word(w.strip()) for w in words) for command, words in data.items()}


def keyword_table(
    root: Path = TEMPLATES, languages: tuple[str, ...] = SUPPORTED_LANGUAGES
) -> Mapping[str, KeywordMeaning]:
    """Every keyword of every language, folded, with what it asks for and its language."""
    table: dict[str, KeywordMeaning] = {}
    for language in languages:
        for command, words in load_keywords(root, language).items():
            for word in words:
                known = table.get(word)
                if known is not None and known.command != command:
                    raise ValueError(
                        f"keyword {word!r} is {known.command!r} in one language and "
                        f"{command!r} in {language!r}"
                    )
                shared = known is not None and known.language != language
                table[word] = KeywordMeaning(command, None if shared else language)
    return table


@cache
def keywords() -> Mapping[str, KeywordMeaning]:
    """The package's keyword table, read once."""
    return keyword_table()
