"""The kinds of visit a queue offers, as patients read and name them.

A queue's kinds are keys of its `service_times_s` (`pickup`, `flu_shot`). Patients read a
label in their language (`kind_label`: the catalogue's `kinds.json` for common kinds, else
one made from the key). They may name a kind by its key or by any of its labels, in any
case, with or without accents, `-`, `_` or spaces: `JOIN PHARM PICKUP`, `UNIRSE FARM
RECOGIDA`, `KIND flu shot`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.messages.catalogue import (
    DEFAULT_CATALOGUE,
    SUPPORTED_LANGUAGES,
    Catalogue,
    label_from_key,
)
from core.messages.keywords import fold_word

_SEPARATORS = re.compile(r"[\s_-]+")


def kind_choices(
    offered: Iterable[str], language: str, catalogue: Catalogue = DEFAULT_CATALOGUE
) -> list[tuple[str, str]]:
    """The kinds a queue offers as (key, label in `language`), in the order of the keys."""
    return [(kind, catalogue.kind_label(kind, language)) for kind in sorted(offered)]


def _folded(text: str) -> str:
    return _SEPARATORS.sub(" ", fold_word(text)).strip()


def names_of(kind: str, catalogue: Catalogue = DEFAULT_CATALOGUE) -> set[str]:
    """Every way a patient may name `kind`, folded: its key and its labels in each language."""
    labels = (catalogue.kind_labels(lang).get(kind) for lang in SUPPORTED_LANGUAGES)
    return {_folded(kind), _folded(label_from_key(kind))} | {_folded(x) for x in labels if x}


def match_kind(
    words: str, offered: Iterable[str], catalogue: Catalogue = DEFAULT_CATALOGUE
) -> str | None:
    """The one kind of `offered` that `words` names; None when they name none (or, with
    labels alike in two languages, more than one)."""
    wanted = _folded(words)
    found = [kind for kind in offered if wanted and wanted in names_of(kind, catalogue)]
    return found[0] if len(found) == 1 else None
