"""Property tests: what patients and staff type is read without an exception, whatever
Unicode it holds (digits int() cannot read, surrogates, combining marks, RTL marks, NUL),
and what comes out is always in range."""

from __future__ import annotations

import string

from hypothesis import example, given
from hypothesis import strategies as st

from bot.context import minutes_and_queue, minutes_arg
from core.domain.model import QUEUE_CODE, queue_code
from core.domain.numbers import TOO_LARGE, whole_number
from sms.keywords import MAX_LATE_MIN, Command, Keyword, parse

ANY_CHAR = st.characters(exclude_categories=())
"""Every code point, surrogates included (hypothesis leaves those out by default)."""
ANY_TEXT = st.text(ANY_CHAR, max_size=300)
TRICKY = st.sampled_from(
    [
        "\u19da",
        "\u00b2",
        "\u0661\u0662",
        "\uff11\uff12",
        "\ud800",
        "\x00",
        "\u202e",
        "e\u0301",
        "9" * 20,
        "0" * 12 + "7",
        "-5",
        "+5",
        "1_000",
        " ",
        "\n",
        "PHARM",
        "pharm",
        "ß",
    ]
)
KEYWORDS = st.sampled_from(["JOIN", "LEAVE", "LATE", "STATUS", "STOP", "START", "HELP", "join"])
WORDS = st.lists(st.one_of(TRICKY, ANY_TEXT), max_size=5).map(" ".join)


def check_keyword(found: Keyword) -> None:
    assert isinstance(found.command, Command)
    if found.queue is not None:
        assert QUEUE_CODE.fullmatch(found.queue) and found.queue == found.queue.upper()
    if found.minutes is not None:
        assert 1 <= found.minutes <= MAX_LATE_MIN


@given(ANY_TEXT)
@example("LATE \u19da")
@example("late \u00b2 pharm")
@example("LATE " + "9" * 5000)
def test_any_text_message_is_read(body: str) -> None:
    check_keyword(parse(body))


@given(KEYWORDS, WORDS)
def test_any_arguments_after_a_keyword_are_read(keyword: str, rest: str) -> None:
    check_keyword(parse(f"{keyword} {rest}"))


@given(st.one_of(ANY_TEXT, TRICKY, WORDS))
@example("\u19da")
@example("1\u19da PHARM")
@example("9" * 5000)
def test_any_late_or_travel_arguments_are_read(args: str) -> None:
    parsed = minutes_and_queue(args)
    if parsed is not None:
        minutes, code = parsed
        assert 1 <= minutes <= 120
        assert code is None or QUEUE_CODE.fullmatch(code)
    single = minutes_arg(args)
    assert single is None or 1 <= single <= 120


@given(st.one_of(ANY_TEXT, TRICKY))
def test_queue_codes_are_ascii_or_nothing(raw: str) -> None:
    code = queue_code(raw)
    assert code is None or (code.isascii() and QUEUE_CODE.fullmatch(code))


@given(st.one_of(ANY_TEXT, TRICKY, st.text(string.digits, min_size=1, max_size=5000)))
def test_numbers_are_ascii_digits_or_nothing(raw: str) -> None:
    value = whole_number(raw)
    if raw and all(c in string.digits for c in raw):
        significant = raw.lstrip("0") or "0"
        assert value == (int(significant) if len(significant) <= 9 else TOO_LARGE)
    else:
        assert value is None
