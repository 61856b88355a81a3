"""Reading a patient's text: keywords as people type them."""

from __future__ import annotations

import pytest

from sms.keywords import DEFAULT_LATE_MIN, Command, Keyword, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("JOIN PHARM", Keyword(Command.JOIN, "PHARM", given_queue="PHARM")),
        ("  join,   pharm! ", Keyword(Command.JOIN, "PHARM", given_queue="PHARM")),
        ("Join pharm please", Keyword(Command.JOIN, "PHARM", given_queue="PHARM")),
        ("pharm", Keyword(Command.JOIN, "PHARM", given_queue="PHARM")),
        ("PHARM.", Keyword(Command.JOIN, "PHARM", given_queue="PHARM")),
        ("JOIN", Keyword(Command.JOIN)),
        ("status", Keyword(Command.STATUS)),
        ("Status?", Keyword(Command.STATUS)),
        ("LEAVE", Keyword(Command.LEAVE)),
        ("leave lab", Keyword(Command.LEAVE, "LAB", given_queue="LAB")),
        ("LATE", Keyword(Command.LATE, minutes=DEFAULT_LATE_MIN)),
        ("late 20", Keyword(Command.LATE, minutes=20)),
        ("LATE 20 PHARM", Keyword(Command.LATE, "PHARM", 20, "PHARM")),
        ("late pharm 20", Keyword(Command.LATE, "PHARM", 20, "PHARM")),
        ("LATE 0", Keyword(Command.LATE, minutes=None)),
        ("LATE 99999999", Keyword(Command.LATE, minutes=None)),
        ("STOP", Keyword(Command.OPT_OUT)),
        ("stop.", Keyword(Command.OPT_OUT)),
        ("Unsubscribe", Keyword(Command.OPT_OUT)),
        ("STOPALL", Keyword(Command.OPT_OUT)),
        ("cancel", Keyword(Command.OPT_OUT)),
        ("END", Keyword(Command.OPT_OUT)),
        ("quit", Keyword(Command.OPT_OUT)),
        ("START", Keyword(Command.OPT_IN)),
        ("yes", Keyword(Command.OPT_IN, acknowledges=True)),
        ("UNSTOP", Keyword(Command.OPT_IN)),
        ("help", Keyword(Command.HELP)),
        ("INFO", Keyword(Command.HELP)),
        ("", Keyword(Command.HELP)),
        ("   ", Keyword(Command.HELP)),
        ("😀👍", Keyword(Command.HELP)),
        ("Hello there, when is my turn", Keyword(Command.UNKNOWN)),
        ("Привет", Keyword(Command.UNKNOWN)),
        ("12345", Keyword(Command.UNKNOWN)),
        # Full-width letters, as some phone keyboards type them.
        (
            "\uff2a\uff2f\uff29\uff2e\u3000\uff30\uff28\uff21\uff32\uff2d",
            Keyword(Command.JOIN, "PHARM", given_queue="PHARM"),
        ),
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
    assert parse("STATUS " + "x" * 5000) == Keyword(Command.STATUS)
    assert parse("x" * 2000).command is Command.UNKNOWN
