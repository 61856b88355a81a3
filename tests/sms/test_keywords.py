"""Reading a patient's text: keywords as people type them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.messages import SUPPORTED_LANGUAGES, KeywordMeaning, keyword_table
from core.messages.catalogue import TEMPLATES
from core.messages.keywords import load_keywords
from sms.keywords import (
    DEFAULT_LATE_MIN,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Command,
    Keyword,
    parse,
)

EN, ES = "en", "es"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("JOIN PHARM", Keyword(Command.JOIN, "PHARM", given_queue="PHARM", language=EN)),
        ("  join,   pharm! ", Keyword(Command.JOIN, "PHARM", given_queue="PHARM", language=EN)),
        # What follows the code names the kind of visit (the conversation decides whether
        # the queue offers it: "please" is no kind, and the answer lists those it offers).
        (
            "Join pharm please",
            Keyword(Command.JOIN, "PHARM", given_queue="PHARM", language=EN, kind_words="PLEASE"),
        ),
        (
            "JOIN PHARM PICKUP",
            Keyword(Command.JOIN, "PHARM", given_queue="PHARM", language=EN, kind_words="PICKUP"),
        ),
        (
            "join pharm flu-shot!",
            Keyword(Command.JOIN, "PHARM", given_queue="PHARM", language=EN, kind_words="FLU-SHOT"),
        ),
        ("KIND pickup", Keyword(Command.KIND, language=EN, kind_words="PICKUP")),
        ("kind flu shot", Keyword(Command.KIND, language=EN, kind_words="FLU SHOT")),
        ("KIND", Keyword(Command.KIND, language=EN)),
        ("pharm", Keyword(Command.JOIN, "PHARM", given_queue="PHARM")),
        ("PHARM.", Keyword(Command.JOIN, "PHARM", given_queue="PHARM")),
        ("JOIN", Keyword(Command.JOIN, language=EN)),
        ("status", Keyword(Command.STATUS, language=EN)),
        ("Status?", Keyword(Command.STATUS, language=EN)),
        ("LEAVE", Keyword(Command.LEAVE, language=EN)),
        ("leave lab", Keyword(Command.LEAVE, "LAB", given_queue="LAB", language=EN)),
        ("LATE", Keyword(Command.LATE, minutes=DEFAULT_LATE_MIN, language=EN)),
        ("late 20", Keyword(Command.LATE, minutes=20, language=EN)),
        ("LATE 20 PHARM", Keyword(Command.LATE, "PHARM", 20, "PHARM", EN)),
        ("late pharm 20", Keyword(Command.LATE, "PHARM", 20, "PHARM", EN)),
        ("LATE 0", Keyword(Command.LATE, minutes=None, language=EN)),
        ("LATE 99999999", Keyword(Command.LATE, minutes=None, language=EN)),
        ("STOP", Keyword(Command.OPT_OUT, carrier=True)),
        ("stop.", Keyword(Command.OPT_OUT, carrier=True)),
        ("Unsubscribe", Keyword(Command.OPT_OUT, carrier=True)),
        ("STOPALL", Keyword(Command.OPT_OUT, carrier=True)),
        ("cancel", Keyword(Command.OPT_OUT, carrier=True)),
        ("END", Keyword(Command.OPT_OUT, carrier=True)),
        ("quit", Keyword(Command.OPT_OUT, carrier=True)),
        ("START", Keyword(Command.OPT_IN, carrier=True)),
        ("yes", Keyword(Command.OPT_IN, carrier=True, acknowledges=True)),
        ("UNSTOP", Keyword(Command.OPT_IN, carrier=True)),
        ("help", Keyword(Command.HELP, language=EN)),
        ("INFO", Keyword(Command.HELP, language=EN)),
        ("", Keyword(Command.HELP)),
        ("   ", Keyword(Command.HELP)),
        ("😀👍", Keyword(Command.HELP)),
        ("Hello there, when is my turn", Keyword(Command.UNKNOWN)),
        ("Привет", Keyword(Command.UNKNOWN)),
        ("12345", Keyword(Command.UNKNOWN)),
        # Full-width letters, as some phone keyboards type them.
        (
            "\uff2a\uff2f\uff29\uff2e\u3000\uff30\uff28\uff21\uff32\uff2d",
            Keyword(Command.JOIN, "PHARM", given_queue="PHARM", language=EN),
        ),
        # Spanish, with the accents and the case phones and people add.
        ("UNIRSE FARM", Keyword(Command.JOIN, "FARM", given_queue="FARM", language=ES)),
        ("únirse, farm!", Keyword(Command.JOIN, "FARM", given_queue="FARM", language=ES)),
        (
            "Cola farm por favor",
            Keyword(Command.JOIN, "FARM", given_queue="FARM", language=ES, kind_words="POR FAVOR"),
        ),
        (
            "UNIRSE FARM RECOGIDA",
            Keyword(Command.JOIN, "FARM", given_queue="FARM", language=ES, kind_words="RECOGIDA"),
        ),
        ("tipo recogida", Keyword(Command.KIND, language=ES, kind_words="RECOGIDA")),
        ("cola", Keyword(Command.JOIN, language=ES)),
        ("estado", Keyword(Command.STATUS, language=ES)),
        ("¿Estado?", Keyword(Command.STATUS, language=ES)),
        ("ÉSTADO", Keyword(Command.STATUS, language=ES)),
        # A decomposed accent (e + U+0301), as some keyboards send it.
        ("Esta\u0301do", Keyword(Command.STATUS, language=ES)),
        ("tarde", Keyword(Command.LATE, minutes=DEFAULT_LATE_MIN, language=ES)),
        ("Tárde 20 farm", Keyword(Command.LATE, "FARM", 20, "FARM", ES)),
        ("TARDE 0", Keyword(Command.LATE, minutes=None, language=ES)),
        ("salir", Keyword(Command.LEAVE, language=ES)),
        ("Salír lab", Keyword(Command.LEAVE, "LAB", given_queue="LAB", language=ES)),
        ("AYUDA", Keyword(Command.HELP, language=ES)),
        ("ayúda!", Keyword(Command.HELP, language=ES)),
        ("baja", Keyword(Command.OPT_OUT, language=ES)),
        ("Bája.", Keyword(Command.OPT_OUT, language=ES)),
        ("ALTA", Keyword(Command.OPT_IN, language=ES)),
        ("alta", Keyword(Command.OPT_IN, language=ES)),
        # A queue code that is also a keyword is joined with the join keyword.
        ("JOIN ALTA", Keyword(Command.JOIN, "ALTA", given_queue="ALTA", language=EN)),
        ("unirse baja", Keyword(Command.JOIN, "BAJA", given_queue="BAJA", language=ES)),
        # The carriers' words stay theirs, whatever language the rest of the text is in.
        ("STOP por favor", Keyword(Command.OPT_OUT, carrier=True)),
        ("Stóp", Keyword(Command.OPT_OUT, carrier=True)),
        ("Hola, ¿cuándo me toca?", Keyword(Command.UNKNOWN)),
    ],
)
def test_keywords(text: str, expected: Keyword) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("OK", Command.JOIN),  # a lone word could be a queue code
        ("ok thanks", Command.UNKNOWN),
        ("Yes!", Command.OPT_IN),
        ("si", Command.JOIN),
        ("Sí, voy", Command.UNKNOWN),
        ("1", Command.UNKNOWN),
        ("vale", Command.JOIN),
    ],
)
def test_answers_to_a_call_keep_their_other_meaning_too(text: str, command: Command) -> None:
    """Whether the text acknowledges a call depends on the sender being called, which the
    conversation knows; the parser says both what it would mean and that it may be one."""
    keyword = parse(text)
    assert keyword.acknowledges
    assert keyword.command is command


@pytest.mark.parametrize("text", ["STATUS", "okay-ish", "10", "JOIN OK", "no"])
def test_other_texts_are_no_answer_to_a_call(text: str) -> None:
    assert not parse(text).acknowledges


def test_a_queue_code_that_cannot_be_one_is_kept_for_the_reply() -> None:
    keyword = parse("JOIN PHARMACY-NORTH-WING-AND-SOUTH-WING-TOO")
    assert keyword.command is Command.JOIN
    assert keyword.queue is None
    assert keyword.given_queue is not None


def test_only_the_start_of_a_long_message_is_read() -> None:
    assert parse("STATUS " + "x" * 5000) == Keyword(Command.STATUS, language="en")
    assert parse("x" * 2000).command is Command.UNKNOWN


# -- the keyword table is data of the message catalogue --------------------------------------


def write_catalogue(root: Path, files: dict[str, object]) -> Path:
    for language, table in files.items():
        (root / language).mkdir(parents=True, exist_ok=True)
        (root / language / "keywords.json").write_text(json.dumps(table), encoding="utf-8")
    return root


def test_a_third_language_is_a_data_file(tmp_path: Path) -> None:
    root = write_catalogue(
        tmp_path,
        {
            "en": {"status": ["STATUS"], "join": ["JOIN"]},
            "fr": {"status": ["STATUT", "Où"], "join": ["REJOINDRE"], "ack": ["OUI"]},
        },
    )
    table = keyword_table(root, ("en", "fr"))
    assert parse("statut", table) == Keyword(Command.STATUS, language="fr")
    assert parse("ou?", table) == Keyword(Command.STATUS, language="fr")
    assert parse("Rejoindre pharm", table) == Keyword(
        Command.JOIN, "PHARM", given_queue="PHARM", language="fr"
    )
    assert parse("status", table) == Keyword(Command.STATUS, language="en")
    # an answer to a call is no keyword of its own (a lone word: a queue code), but says it
    # may answer a call; the carriers' words are read in every language
    assert parse("oui", table) == Keyword(Command.JOIN, "OUI", given_queue="OUI", acknowledges=True)
    assert parse("STOP", table) == Keyword(Command.OPT_OUT, carrier=True)
    # a language the service does not offer is not read
    assert parse("statut", keyword_table(root, ("en",))) == Keyword(
        Command.JOIN, "STATUT", given_queue="STATUT"
    )


def test_a_word_two_languages_share_belongs_to_neither(tmp_path: Path) -> None:
    root = write_catalogue(
        tmp_path, {"en": {"help": ["HELP", "INFO"]}, "es": {"help": ["AYUDA", "info"]}}
    )
    table = keyword_table(root, ("en", "es"))
    assert table["INFO"] == KeywordMeaning("help", None)
    assert table["AYUDA"] == KeywordMeaning("help", "es")
    assert parse("Info", table) == Keyword(Command.HELP)


def test_a_word_that_means_two_things_stops_the_load(tmp_path: Path) -> None:
    root = write_catalogue(tmp_path, {"en": {"leave": ["SALIR"]}, "es": {"join": ["Salír"]}})
    with pytest.raises(ValueError, match="SALIR"):
        keyword_table(root, ("en", "es"))


@pytest.mark.parametrize(
    "bad", [["JOIN"], {"join": "JOIN"}, {"join": [""]}, {"join": [1]}, {"join": ["JOIN PHARM"]}]
)
def test_a_malformed_keyword_file_stops_the_load(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match=r"keywords\.json"):
        keyword_table(write_catalogue(tmp_path, {"en": bad}), ("en",))


def test_the_shipped_tables() -> None:
    for language in SUPPORTED_LANGUAGES:
        table = load_keywords(TEMPLATES, language)
        # every command of the conversation has its words, and `ack` keeps its slot for the
        # words that answer a call by text
        assert set(table) == {c.value for c in Command if c is not Command.UNKNOWN} | {"ack"}
        for command, found in table.items():
            assert not set(found) & (OPT_OUT_WORDS | OPT_IN_WORDS), "the carriers' words are code"
            for word in found if command != "ack" else ():
                parsed = parse(word)
                assert (parsed.command, parsed.language) == (command, language), word
                assert parse(word.lower() + " 10").command == command
