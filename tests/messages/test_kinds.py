"""Kinds of visit as patients read and name them: the catalogue's labels per language, a
label made from the key otherwise, and the words that name a kind by text."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import COMMANDS
from core.messages import (
    SUPPORTED_LANGUAGES,
    Catalogue,
    is_gsm7,
    kind_choices,
    kind_label,
    match_kind,
    render_text,
)
from core.messages.catalogue import TEMPLATES, label_from_key

OFFERED = ["consultation", "flu_shot", "pickup"]


def test_common_kinds_read_in_the_patients_language() -> None:
    assert kind_label("pickup", "en") == "Pickup"
    assert kind_label("pickup", "es-MX") == "Recogida"
    assert kind_choices(OFFERED, "es") == [
        ("consultation", "Consulta"),
        ("flu_shot", "Flu shot"),  # no label in the catalogue: made from the key
        ("pickup", "Recogida"),
    ]


@pytest.mark.parametrize(
    ("key", "label"),
    [("flu_shot", "Flu shot"), ("x-ray", "X ray"), ("b12", "B12"), ("long__gap", "Long gap")],
)
def test_a_label_made_from_the_key(key: str, label: str) -> None:
    assert label_from_key(key) == label


def test_english_fills_a_language_without_the_label(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "es").mkdir()
    (tmp_path / "en" / "kinds.json").write_text('{"dressing": "Wound dressing"}')
    (tmp_path / "es" / "kinds.json").write_text("{}")
    assert Catalogue(tmp_path).kind_label("dressing", "es") == "Wound dressing"


@pytest.mark.parametrize(
    ("words", "kind"),
    [
        ("PICKUP", "pickup"),
        ("recogida", "pickup"),  # the Spanish label, from any patient
        ("CONSÚLTA", "consultation"),  # accents as a phone adds them
        ("FLU SHOT", "flu_shot"),
        ("flu-shot", "flu_shot"),
        ("Flu_Shot", "flu_shot"),
        ("vacuna", None),  # a label of a kind this queue does not offer
        ("pick", None),
        ("", None),
    ],
)
def test_the_words_that_name_a_kind(words: str, kind: str | None) -> None:
    assert match_kind(words, OFFERED) == kind


def test_words_naming_two_kinds_name_none() -> None:
    # `recogida` is a key here and the Spanish label of `pickup`: no guess between them
    assert match_kind("RECOGIDA", ["pickup", "recogida"]) is None
    assert match_kind("PICKUP", ["pickup", "recogida"]) == "pickup"


def test_the_catalogue_labels_fit_a_text() -> None:
    """They are said in SMS replies: GSM-7, and no longer than a key may be."""
    for language in SUPPORTED_LANGUAGES:
        for kind in Catalogue().kind_labels(language):
            label = kind_label(kind, language)
            assert is_gsm7(label) and len(label) <= 32, (language, kind, label)
    assert set(Catalogue().kind_labels("es")) == set(Catalogue().kind_labels("en"))
    assert (TEMPLATES / "es" / "kinds.json").is_file()


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_the_help_lists_every_command_of_the_bots_menu(language: str) -> None:
    help_text = render_text("help", language, unknown=False)
    for command in (c for c in COMMANDS if c.command != "help"):  # it is the help
        assert f"/{command.command}" in help_text, (language, command.command)
