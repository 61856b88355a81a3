"""The message catalogue: every notification in every language and channel, SMS costs, fallbacks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from core.domain.notify import MESSAGE_KINDS
from core.messages import (
    LANGUAGE_NAMES,
    NOTIFICATION_KINDS,
    SUPPORTED_LANGUAGES,
    Button,
    Catalogue,
    Rendered,
    UnknownMessage,
    is_gsm7,
    label,
    pick_language,
    render_notification,
    render_sms_reply,
    render_text,
    sms_segments,
)
from core.messages.catalogue import TEMPLATES

TICKET_ID = "3f2b9c1e-8d4a-4e6f-9b7a-1c2d3e4f5a6b"
URL = "https://nextup.example/t/Zm9vYmFyYmF6cXV4cXV1eA"
COMMON: dict[str, Any] = {
    "number": "A-042",
    "queue": "PHARM",
    "queue_name": "Pharmacy",
    "ticket_url": None,
    "ticket_id": TICKET_ID,
}
# Only what each kind may use, so a template reading anything else fails (StrictUndefined).
BY_KIND: dict[str, dict[str, Any]] = {
    "joined": {"position": 3, "eta_low_min": 15, "eta_high_min": 25, "overflowed_from": None},
    "close": {"position": 3, "eta_low_min": 10, "eta_high_min": 15},
    "leave_now": {"eta_low_min": 20, "eta_high_min": 30, "travel_min": 25},
    "eta_changed": {"position": 5, "eta_low_min": 30, "eta_high_min": 45, "direction": "later"},
    "called": {"counter": "3"},
    "recalled": {"counter": "3", "recall_count": 1},
    "missed": {"grace_min": 10},
    "returned": {"position": 4, "eta_low_min": 15, "eta_high_min": 20},
    "transferred": {"from_queue": "LAB", "position": 2, "eta_low_min": 5, "eta_high_min": 10},
    "done": {},
    "left": {},
    "line_closed": {},
    "broadcast": {"text": "The pharmacist is back at 14:00."},
}
# Variations a template branches on; each is applied on its own to the kinds that take it.
VARIANTS: list[dict[str, Any]] = [
    {},
    {"position": 1},
    {"position": 99},
    {"eta_low_min": 20, "eta_high_min": 20},
    {"eta_low_min": None, "eta_high_min": None},
    {"overflowed_from": "PHARM2"},
    {"direction": "sooner"},
    {"grace_min": None},
    {"ticket_url": URL},
]
# The longest realistic values: a 20-character queue name from the hospital, queue codes of
# the 8 characters a prefix may have, two- and three-digit numbers.
WORST: dict[str, Any] = {
    "queue_name": "Pharmacy North Wing2",
    "queue": "PHARMACY",
    "counter": "12",
    "position": 99,
    "eta_low_min": 150,
    "eta_high_min": 180,
    "travel_min": 180,
    "recall_count": 9,
    "grace_min": 180,
    "overflowed_from": "PHARMACY",
    "from_queue": "RADIOLGY",
}


def params(kind: str, **overrides: Any) -> dict[str, Any]:
    base = {**COMMON, **BY_KIND[kind]}
    return {**base, **{k: v for k, v in overrides.items() if k in base}}


def cases() -> list[tuple[str, str, str, dict[str, Any]]]:
    out = []
    for kind in NOTIFICATION_KINDS:
        seen: list[dict[str, Any]] = []
        for variant in VARIANTS:
            p = params(kind, **variant)
            if p not in seen:
                seen.append(p)
                for lang in SUPPORTED_LANGUAGES:
                    for channel in ("telegram", "sms"):
                        out.append((kind, channel, lang, p))
    return out


def emoji_count(text: str) -> int:
    return sum(1 for c in text if ord(c) > 0xFFFF or c in "\u2600\u2b50\u23f0")


# -- every message ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "channel", "lang", "p"), cases())
def test_every_kind_renders_in_every_language_and_channel(
    kind: str, channel: str, lang: str, p: dict[str, Any]
) -> None:
    rendered = render_notification(kind, channel, lang, p)
    text = rendered.text
    assert text and text == text.strip()
    for leftover in ("{{", "}}", "{%", "%}", "{#", "None", "  ", "\n\n\n"):
        assert leftover not in text, (leftover, text)
    assert p["queue_name"] in text
    if kind not in ("done",):
        assert p["number"] in text
    if "counter" in p:
        assert f" {p['counter']}" in text
    if p.get("position", 0) > 1:
        assert re.search(rf"\b{p['position']}\b", text), text
    if p.get("eta_high_min") is not None and not (kind == "close" and p["position"] == 1):
        assert f"{p['eta_high_min']} min" in text
    if channel == "sms":
        assert is_gsm7(text), text
        assert rendered.buttons == ()
    else:
        assert emoji_count(text) <= 2, text


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("kind", NOTIFICATION_KINDS)
def test_sms_is_one_gsm7_segment_with_the_longest_realistic_params(kind: str, lang: str) -> None:
    # ticket_url stays None here: with a link an SMS may take two segments, and that is accepted.
    if kind == "broadcast":  # staff's own words: its length is checked when it is sent
        return
    for variant in VARIANTS[:-1]:
        p = params(kind, **{**WORST, **variant})
        text = render_notification(kind, "sms", lang, p).text
        assert is_gsm7(text), text
        assert sms_segments(text) == 1, (len(text), text)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_a_ticket_link_is_in_the_joined_sms_and_telegram_texts_only_when_given(lang: str) -> None:
    for channel in ("sms", "telegram"):
        assert "http" not in render_notification("joined", channel, lang, params("joined")).text
        with_url = render_notification("joined", channel, lang, params("joined", ticket_url=URL))
        assert URL in with_url.text
    # On SMS the link is only in `joined`: every other SMS keeps to one segment regardless.
    called = render_notification("called", "sms", lang, params("called", ticket_url=URL))
    assert URL not in called.text


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_a_typical_joined_sms_with_its_link_is_one_segment(lang: str) -> None:
    """A 22-character token behind a 37-character site address, a 2-digit place in line."""
    link = "https://queue.example-hospital.org/t/" + "x" * 22
    typical = params("joined", queue_name="Pharmacy", position=12, ticket_url=link)
    text = render_notification("joined", "sms", lang, typical).text
    assert link in text
    assert sms_segments(text) == 1, (len(text), text)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_sms_replies_are_one_gsm7_segment(lang: str) -> None:
    tickets = [
        {
            "number": "A-142",
            "queue_name": WORST["queue_name"],
            "status": "waiting",
            "position": 99,
            "eta_low_min": 150,
            "eta_high_min": 180,
            "counter": None,
        }
    ]
    replies: dict[str, dict[str, Any]] = {
        "help": {"unknown": True},
        "unknown_queue": {"code": "X" * 16},
        "join_usage": {},
        "queue_full": {"code": "PHARMACY"},
        "queue_closed": {
            "code": "X" * 16,
            "paused": True,
            "pause_message": "not on SMS",
            "opens_day": "wed",
            "opens_time": "08:00",
        },
        "queue_closing": {
            "code": "X" * 16,
            "closes_time": "18:00",
            "opens_day": "wed",
            "opens_time": "08:00",
        },
        "already_in": {k: v for k, v in WORST.items() if k in ("queue_name", "position")}
        | {"number": "A-142", "eta_low_min": 150, "eta_high_min": 180},
        "status": {"tickets": tickets},
        "status_none": {},
        "left": {"numbers": ["A-142"]},
        "leave_called": {},
        "late_done": {"number": "A-142", "position": 99, "eta_low_min": 150, "eta_high_min": 180},
        "late_limit": {},
        "not_waiting": {"code": "PHARMACY"},
        "several_queues": {"codes": ["PHARMACY", "RADIOLGY"], "command": "LATE 10"},
        "opted_in": {},
        "opted_out": {},
        "unreadable_number": {},
        "sorry": {},
        "ack_thanks": {},
        # a kind's label is at most its key's 32 characters
        "kind_set": {"number": "A-142", "position": 99, "eta_low_min": 150, "eta_high_min": 180}
        | {"kind": "repeat_prescription_and_advice_x"},
        "kind_stale": {},
        # four kinds (a queue offers up to 12: more than four may take a second segment)
        "kind_unknown": {
            "word": "X" * 16,
            "kinds": ["consultation", "prescription", "pickup", "vaccine"],
        },
    }
    shipped = {p.stem for p in (TEMPLATES / lang / "sms_reply").glob("*.txt")}
    assert shipped == set(replies)
    for name, reply_params in replies.items():
        text = render_sms_reply(name, lang, **reply_params)
        assert is_gsm7(text) and sms_segments(text) == 1, (name, len(text), text)
    # Closed rather than paused: every weekday's name, and no opening known.
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun", None):
        closed = {**replies["queue_closed"], "paused": False, "opens_day": day}
        text = render_sms_reply("queue_closed", lang, **closed)
        assert is_gsm7(text) and sms_segments(text) == 1, text
        assert "not on SMS" not in text
    for unset in ({"kind": None}, {"kinds": []}):
        name = "kind_set" if "kind" in unset else "kind_unknown"
        text = render_sms_reply(name, lang, **{**replies[name], **unset})
        assert is_gsm7(text) and sms_segments(text) == 1, text


def test_spanish_sms_avoids_accents_outside_gsm7() -> None:
    for kind in NOTIFICATION_KINDS:
        text = render_notification(kind, "sms", "es", params(kind, queue_name="Farmacia")).text
        assert not set(text) & set("áíóúÁÍÓÚ"), text


# -- buttons ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_called_on_telegram_has_the_on_my_way_button(lang: str) -> None:
    rendered = render_notification("called", "telegram", lang, params("called"))
    assert rendered.buttons == ((Button(label("on_my_way", lang), f"ack:{TICKET_ID}"),),)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_done_on_telegram_has_one_row_of_five_rate_buttons(lang: str) -> None:
    (row,) = render_notification("done", "telegram", lang, params("done")).buttons
    assert [b.label for b in row] == ["1", "2", "3", "4", "5"]
    assert [b.data for b in row] == [f"rate:{TICKET_ID}:{n}" for n in range(1, 6)]
    assert (
        label("rate_prompt", lang)
        in render_notification("done", "telegram", lang, params("done")).text
    )


@pytest.mark.parametrize(("kind", "channel", "lang", "p"), cases())
def test_buttons_only_on_telegram_called_and_done(
    kind: str, channel: str, lang: str, p: dict[str, Any]
) -> None:
    rendered = render_notification(kind, channel, lang, p)
    has_buttons = channel == "telegram" and kind in ("called", "recalled", "done")
    assert bool(rendered.buttons) is has_buttons
    for row in rendered.buttons:
        for button in row:
            assert len(button.data.encode()) <= 64
            assert button.label


def test_the_sms_of_done_does_not_ask_for_a_rating() -> None:
    for lang in SUPPORTED_LANGUAGES:
        text = render_notification("done", "sms", lang, params("done")).text
        assert "1" not in text and "5" not in text


def test_button_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64"):
        Button("x", "rate:" + "é" * 30)


def test_buttons_need_a_ticket_id() -> None:
    p = params("called")
    del p["ticket_id"]
    with pytest.raises(ValueError, match="ticket_id"):
        render_notification("called", "telegram", "en", p)
    assert render_notification("called", "sms", "en", p).buttons == ()


# -- languages, channels and fallbacks -------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "default", "expected"),
    [
        ("es", "en", "es"),
        ("es-MX", "en", "es"),
        ("ES_es", "en", "es"),
        (" es ", "en", "es"),
        ("es-MX,es;q=0.9,en;q=0.8", "en", "es"),
        ("en-GB", "es", "en"),
        ("fr", "en", "en"),
        ("fr", "es", "es"),
        ("fr-CA", "es-AR", "es"),
        (None, "es", "es"),
        ("", "es", "es"),
        (None, "de", "en"),
        ("pt", "de", "en"),
        ("e", "en", "en"),
    ],
)
def test_pick_language(requested: str | None, default: str, expected: str) -> None:
    assert pick_language(requested, default) == expected


def test_pick_language_default_is_english() -> None:
    assert pick_language("xx") == "en"
    assert pick_language(None) == "en"


def test_language_names_cover_the_supported_languages() -> None:
    assert SUPPORTED_LANGUAGES == ("en", "es")
    assert LANGUAGE_NAMES == {"en": "English", "es": "Español"}


def test_an_unknown_language_falls_back_to_english() -> None:
    for kind in NOTIFICATION_KINDS:
        for channel in ("telegram", "sms"):
            english = render_notification(kind, channel, "en", params(kind))
            assert render_notification(kind, channel, "fr", params(kind)) == english
            assert render_notification(kind, channel, "", params(kind)) == english


def test_a_regional_tag_renders_its_language() -> None:
    mexican = render_notification("called", "telegram", "es-MX", params("called"))
    assert mexican == render_notification("called", "telegram", "es", params("called"))
    assert mexican != render_notification("called", "telegram", "en", params("called"))


def test_any_other_channel_gets_the_telegram_message() -> None:
    for kind in NOTIFICATION_KINDS:
        telegram = render_notification(kind, "telegram", "es", params(kind))
        assert render_notification(kind, "web", "es", params(kind)) == telegram
        assert render_notification(kind, "SMS", "es", params(kind)).buttons == ()


def test_an_unknown_kind_raises() -> None:
    for name in ("nope", "../en/labels", "", "Joined", "bot/x"):
        with pytest.raises(UnknownMessage):
            render_notification(name, "telegram", "es", COMMON)
    with pytest.raises(KeyError):
        render_notification("nope", "sms", "en", COMMON)


def test_a_missing_param_is_an_error_not_a_blank() -> None:
    p = params("called")
    del p["counter"]
    with pytest.raises(UndefinedError):
        render_notification("called", "sms", "en", p)


def test_optional_params_may_be_left_out() -> None:
    p = {k: v for k, v in params("joined").items() if k not in ("ticket_url", "overflowed_from")}
    assert render_notification("joined", "telegram", "en", p).text


@pytest.fixture
def catalogue(tmp_path: Path) -> Catalogue:
    """A catalogue where some templates and labels exist in English only."""
    files = {
        "en/telegram/ping.txt": "Ping {{ number }} {{ labels.word }}",
        "en/sms/ping.txt": "PING {{ number }}",
        "es/telegram/ping.txt": "Hola {{ number }} {{ labels.word }}",
        "en/bot/linked.txt": "Linked to {{ name }}\n\n",
        "es/bot/welcome.txt": "Bienvenida",
        "en/labels.json": json.dumps({"word": "word", "only_en": "only English"}),
        "es/labels.json": json.dumps({"word": "palabra"}),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return Catalogue(tmp_path)


def test_a_template_missing_in_the_language_falls_back_to_english(catalogue: Catalogue) -> None:
    p = {"number": "A-001"}
    assert catalogue.render_notification("ping", "telegram", "es", p) == Rendered(
        "Hola A-001 palabra"
    )
    assert catalogue.render_notification("ping", "sms", "es", p) == Rendered("PING A-001")
    assert catalogue.render_notification("ping", "sms", "fr", p) == Rendered("PING A-001")
    with pytest.raises(UnknownMessage):
        catalogue.render_notification("pong", "sms", "es", p)


def test_bot_texts_fall_back_to_english_and_are_stripped(catalogue: Catalogue) -> None:
    assert catalogue.render_text("linked", "es", name="Ana") == "Linked to Ana"
    assert catalogue.render_text("welcome", "es-AR") == "Bienvenida"
    with pytest.raises(UnknownMessage):
        catalogue.render_text("welcome", "en")  # only in Spanish: no fallback the other way


def test_labels_fall_back_to_english(catalogue: Catalogue) -> None:
    assert catalogue.label("word", "es") == "palabra"
    assert catalogue.label("only_en", "es") == "only English"
    assert catalogue.label("word", "fr") == "word"
    with pytest.raises(UnknownMessage):
        catalogue.label("missing", "es")


def test_bot_texts_may_take_params_called_name_and_language(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.messages.catalogue.DEFAULT_CATALOGUE", catalogue)
    assert render_text("linked", "es", name="Ana", language="fr") == "Linked to Ana"


def test_every_bot_text_exists_in_every_language_and_unknown_texts_raise() -> None:
    from core.messages.catalogue import TEMPLATES

    names = {p.stem for p in (TEMPLATES / "en" / "bot").glob("*.txt")}
    for language in SUPPORTED_LANGUAGES:
        assert {p.stem for p in (TEMPLATES / language / "bot").glob("*.txt")} == names
    assert "/join" in render_text("help", "es")
    with pytest.raises(UnknownMessage):
        render_text("no_such_text", "en")
    with pytest.raises(UnknownMessage):
        render_text("../labels", "en")


def test_labels() -> None:
    assert label("on_my_way", "en") == "I'm on my way"
    assert label("on_my_way", "es-ES") == "Voy de camino"
    assert label("on_my_way", "de") == "I'm on my way"
    with pytest.raises(UnknownMessage):
        label("nope", "en")


# -- the catalogue on disk -------------------------------------------------------------------


def test_each_language_has_the_same_templates_and_labels() -> None:
    def names(lang: str) -> set[str]:
        return {p.relative_to(TEMPLATES / lang).as_posix() for p in (TEMPLATES / lang).rglob("*")}

    assert names("en") == names("es")
    expected = {f"{c}/{k}.txt" for c in ("telegram", "sms") for k in NOTIFICATION_KINDS}
    assert {n for n in names("en") if n.startswith(("telegram/", "sms/"))} == expected
    en, es = (json.loads((TEMPLATES / lang / "labels.json").read_text()) for lang in ("en", "es"))
    assert set(en) == set(es) >= {"on_my_way", "rate_prompt"}


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("kind", ["called", "recalled"])
def test_the_voice_call_says_the_number_and_counter(lang: str, kind: str) -> None:
    params = {"queue_name": "Pharmacy", "number": "A-042", "counter": "3", "ticket_id": "T1"}
    spoken = render_notification(kind, "voice", lang, params)
    assert "A 042" in spoken.text and "3" in spoken.text and "Pharmacy" in spoken.text
    assert spoken.buttons == ()
    other = "en" if lang == "es" else "es"
    assert spoken.text != render_notification(kind, "voice", other, params).text


def test_every_kind_the_domain_sends_has_templates() -> None:
    assert set(MESSAGE_KINDS.values()) | {"close"} <= set(NOTIFICATION_KINDS)


# -- SMS segments ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_a_broadcast_sms_leaves_most_of_two_segments_to_the_text(lang: str) -> None:
    """The queue's name and the number around staff's words take few characters, so a
    broadcast of 250 plain characters fits the two segments one may take."""
    worst = {**params("broadcast"), **WORST, "number": "A-999", "text": "x" * 250}
    text = render_notification("broadcast", "sms", lang, worst).text
    assert text.endswith("x" * 250) and sms_segments(text) == 2


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 153 * 2, 2),
        ("a" * (153 * 2 + 1), 3),
        ("a" * 153 * 3, 3),
        ("a" * (153 * 3 + 1), 4),
        ("ñÑéü¿¡àèìòùÇ" * 10, 1),
        # Extension characters take two septets.
        ("{" * 80, 1),
        ("€" * 80, 1),
        ("€" * 80 + "a", 2),
        ("a" * 159 + "€", 2),
        ("a" * 158 + "[", 1),
        ("\\^~|]" * 16, 1),
        ("\\^~|]" * 16 + ".", 2),
        ("€" * 152, 2),
        # An escape pair is never cut between two segments: 76 per part, so 153 take three.
        ("€" * 153, 3),
        # An escape pair is never cut between two segments: 306 septets, yet three segments.
        ("a" * 152 + "€" + "a" * 152, 3),
        # UCS-2 as soon as one character is outside GSM-7.
        ("á" * 70, 1),
        ("á" * 71, 2),
        ("a" * 69 + "á", 1),
        ("a" * 70 + "á", 2),
        ("á" * 67 * 2, 2),
        ("á" * (67 * 2 + 1), 3),
        ("á" * 67 * 3, 3),
        ("a" * 159 + "\u2013", 3),
        # An emoji is two UTF-16 code units.
        ("😀" * 35, 1),
        ("a" * 69 + "😀", 2),
        ("😀" * 36, 2),
        ("😀" * 66, 2),
        ("😀" * 67, 3),
        # A surrogate pair is never cut between two segments: 134 units, yet three segments.
        ("a" * 66 + "😀" + "a" * 66, 3),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


@pytest.mark.parametrize(
    ("text", "gsm7"),
    [
        ("", True),
        ("Hello A-042, counter 12!\n@£$¥_", True),
        ("ñÑéÉü¿¡àèìòùÄÖÜäöÅåØøÆæß", True),
        ("{}[]~|^\\€", True),
        ("á", False),
        ("í", False),
        ("ó", False),
        ("ú", False),
        ("I\u2019m", False),
        ("10\u201315", False),
        ("ok 👍", False),
        ("\x1b", False),
    ],
)
def test_is_gsm7(text: str, gsm7: bool) -> None:
    assert is_gsm7(text) is gsm7


@pytest.mark.parametrize(
    ("lang", "priority", "said"),
    [("en", 2, "urgent"), ("en", 3, "emergency"), ("es", 1, "prioridad elevada")],
)
def test_a_pharmacist_hears_the_priority_in_words(lang: str, priority: int, said: str) -> None:
    called = {"number": "A-001", "name": "", "queue": "PHARM", "counter": "1"}
    assert render_text("next_called", lang, **called, priority=priority).endswith(f" {said}.")
    routine = render_text("next_called", lang, **called, priority=0)
    assert routine.endswith(" PHARM."), routine
