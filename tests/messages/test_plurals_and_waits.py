"""Counted words and short waits come from the catalogue, in each language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.messages import (
    SUPPORTED_LANGUAGES,
    Catalogue,
    plural,
    render_notification,
    render_sms_reply,
    wait_words,
)
from core.messages.catalogue import TEMPLATES, UnknownMessage


@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        ("en", 0, "0 segments"),
        ("en", 1, "1 segment"),
        ("en", 2, "2 segments"),
        ("es", 1, "1 segmento"),
        ("es", 3, "3 segmentos"),
        ("es-MX", 1, "1 segmento"),
        ("fr", 1, "1 segment"),  # an unsupported language reads English
    ],
)
def test_plural_forms(language: str, count: int, expected: str) -> None:
    assert plural("segment", count, language) == expected


def test_every_language_has_the_same_plural_words_with_an_other_form() -> None:
    words = {
        lang: json.loads((TEMPLATES / lang / "plurals.json").read_text(encoding="utf-8"))
        for lang in SUPPORTED_LANGUAGES
    }
    assert len({frozenset(w) for w in words.values()}) == 1
    assert all("other" in forms for w in words.values() for forms in w.values())


def test_an_unknown_plural_word_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UnknownMessage):
        Catalogue(tmp_path).plural("segment", 1, "en")


@pytest.mark.parametrize(
    ("low_s", "high_s", "en", "es"),
    [
        (0, 0, "less than a minute", "menos de un minuto"),
        (0, 45, "less than a minute", "menos de un minuto"),
        (0, 150, "0\u20133 min", "0\u20133 min"),
        (120, 120, "2 min", "2 min"),
        (75, 525, "1\u20139 min", "1\u20139 min"),
    ],
)
def test_wait_words(low_s: int, high_s: int, en: str, es: str) -> None:
    assert (wait_words(low_s, high_s, "en"), wait_words(low_s, high_s, "es")) == (en, es)


def test_no_message_says_about_0_min() -> None:
    params = {"queue_name": "Q", "number": "A-001", "position": 1, "ticket_id": "t"}
    params |= {"eta_low_min": 0, "eta_high_min": 0, "token": "x"}
    for language, words in (("en", "less than a minute"), ("es", "menos de un minuto")):
        for channel in ("telegram", "sms"):
            text = render_notification("joined", channel, language, params).text
            assert words in text and " 0 min" not in text, text
        reply = render_sms_reply("late_done", language, **params)
        assert words in reply, reply
