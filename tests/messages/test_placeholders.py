"""Say less: every template a patient reads, in every language, uses only the placeholders
patient messages may use, and nothing that says who the patient is reaches the text, even
when a caller passes it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError, meta, nodes

from core.messages import render_notification, render_sms_reply, render_text
from core.messages.catalogue import (
    DEFAULT_CATALOGUE,
    PATIENT_PARAMS,
    STAFF_TEXTS,
    TEMPLATES,
    TICKET_FIELDS,
    Catalogue,
)

ALLOWED = frozenset(
    {
        "number",
        "numbers",
        "position",
        "counter",
        "eta_low_min",
        "eta_high_min",
        "direction",
        "travel_min",
        "grace_min",
        "late_left",
        "minutes",
        "kind",  # a kind of visit the queue offers (`pickup`), or none
        "kinds",  # the kinds it offers
        "score",
        "tickets",
        "queue",
        "queue_name",
        "code",
        "codes",
        "overflowed_from",
        "from_queue",
        "command",
        "word",  # the patient's own word for a kind of visit, said back
        "unknown",
        "language_name",
        "languages",
        "ticket_url",
        "labels",
        "visit",  # whether the patient has a live visit (yes or no)
        "phone_masked",  # their own number, shown masked (+1•••••••77)
        "opens_day",  # when a closed queue opens: a weekday key (mon ... sun)
        "opens_time",  # and the local time, HH:MM
        "closes_time",  # when an open queue closes, HH:MM
        "paused",  # whether staff paused joins
        "pause_message",  # what staff said when they did
        "text",  # staff's own words to the line (a broadcast)
    }
)
"""The allow-list, written out here so that widening the catalogue's is a change a reviewer
sees twice."""
ALLOWED_TICKET_FIELDS = frozenset(
    {"number", "queue_name", "status", "position", "counter", "eta_low_min", "eta_high_min"}
)
WHO_THE_PATIENT_IS = ("name", "patient_name", "phone", "telegram_chat_id", "chat_id", "token")
NAME, PHONE, CHAT_ID = "Zacarías Pérez-Oyelaran", "+34600111222", 987654321

# Realistic values for every allowed placeholder, so each template renders in full.
VALUES: dict[str, Any] = {
    "number": "A-042",
    "numbers": ["A-042", "B-007"],
    "position": 3,
    "counter": "2",
    "eta_low_min": 10,
    "eta_high_min": 15,
    "direction": "later",
    "travel_min": 20,
    "grace_min": 5,
    "late_left": 1,
    "minutes": 15,
    "kind": "pickup",
    "kinds": ["consultation", "flu_shot", "pickup"],
    "word": "PIKCUP",
    "score": 4,
    "queue": "PHARM",
    "queue_name": "Clinic 4",
    "code": "PHARM",
    "codes": ["PHARM", "LAB"],
    "overflowed_from": "LAB",
    "from_queue": "LAB",
    "command": "LEAVE",
    "unknown": True,
    "language_name": "Español",
    "languages": [("en", "English"), ("es", "Español")],
    "ticket_url": "https://q.example.org/t/Zq3xSecretTokenValue0123",
    "ticket_id": "3f2b9c1e-8d4a-4e6f-9b7a-1c2d3e4f5a6b",
    "visit": True,
    "phone_masked": "+3•••••••22",
    "opens_day": "mon",
    "opens_time": "08:00",
    "closes_time": "18:00",
    "paused": False,
    "pause_message": "Fire drill, back at 10",
    "text": "The pharmacist is back at 14:00.",
}
WHO: dict[str, Any] = {
    "name": NAME,
    "patient_name": NAME,
    "phone": PHONE,
    "telegram_chat_id": CHAT_ID,
    "chat_id": CHAT_ID,
    "recipient": PHONE,
}


def patient_templates() -> list[str]:
    """Every template a patient may read: notifications, SMS replies, and the bot's replies
    but those to linked staff chats."""
    found = []
    for path in sorted(TEMPLATES.glob("*/*/*.txt")):
        lang, folder, name = path.relative_to(TEMPLATES).with_suffix("").parts
        if folder == "bot" and name in STAFF_TEXTS:
            continue
        found.append(f"{lang}/{folder}/{name}")
    return found


def used_names(template: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The context variables a template reads, and the fields it reads of a loop's items."""
    source = (TEMPLATES / f"{template}.txt").read_text(encoding="utf-8")
    tree = DEFAULT_CATALOGUE.env.parse(source)
    loop_items = {
        target.name
        for loop in tree.find_all(nodes.For)
        for target in loop.target.find_all(nodes.Name)
    }
    fields = {
        (n.node.name, n.attr)
        for n in tree.find_all(nodes.Getattr)
        if isinstance(n.node, nodes.Name) and n.node.name in loop_items
    }
    return set(meta.find_undeclared_variables(tree)), fields


def test_the_allow_list_is_the_catalogues_and_says_nothing_of_who_the_patient_is() -> None:
    assert PATIENT_PARAMS == ALLOWED and TICKET_FIELDS == ALLOWED_TICKET_FIELDS
    assert not set(WHO_THE_PATIENT_IS) & (ALLOWED | ALLOWED_TICKET_FIELDS)


def test_there_are_patient_templates_in_every_language_and_folder() -> None:
    templates = patient_templates()
    for lang in ("en", "es"):
        for folder in ("telegram", "sms", "bot", "sms_reply"):
            assert any(t.startswith(f"{lang}/{folder}/") for t in templates), (lang, folder)


@pytest.mark.parametrize("template", patient_templates())
def test_every_patient_template_uses_only_allowed_placeholders(template: str) -> None:
    variables, fields = used_names(template)
    assert variables <= ALLOWED, (template, variables - ALLOWED)
    assert {field for _, field in fields} <= ALLOWED_TICKET_FIELDS | {"last"}, (template, fields)


def test_staff_texts_are_the_ones_the_staff_chat_sends() -> None:
    """A patient text slipped into STAFF_TEXTS would escape the check above: the list is
    exactly the bot replies named in the staff chat's code and no patient's."""
    root = Path(__file__).parents[2]

    def names_in(*files: str) -> set[str]:
        text = "".join((root / f).read_text(encoding="utf-8") for f in files)
        return set(re.findall(r'"([a-z_]+)"', text))

    bot_texts = {p.stem for p in TEMPLATES.glob("en/bot/*.txt")}
    staff = (
        names_in(
            "bot/staff.py",
            "core/services/staff_chat.py",
            "core/services/staff_alerts.py",
            "core/services/daily_summary.py",
        )
        & bot_texts
    )
    patient = names_in("bot/patients.py", "bot/callbacks.py", "core/services/conversation.py")
    assert staff - patient == STAFF_TEXTS


def render(template: str, params: dict[str, Any]) -> str:
    lang, folder, name = template.split("/")
    if folder not in ("bot", "sms_reply"):  # a notification's channel: telegram, sms, ...
        return render_notification(name, folder, lang, params).text
    if folder == "sms_reply":
        return render_sms_reply(name, lang, **params)
    return render_text(name, lang, **params)


@pytest.mark.parametrize("template", patient_templates())
def test_who_the_patient_is_never_reaches_the_text(template: str) -> None:
    tickets = [
        {f: VALUES.get(f, "waiting") for f in ALLOWED_TICKET_FIELDS} | WHO,
    ]
    text = render(template, VALUES | WHO | {"tickets": tickets})
    assert text
    for secret in (NAME, "Zacarías", "Pérez", PHONE, "600111222", str(CHAT_ID)):
        assert secret not in text, (template, secret, text)


def test_a_template_reaching_for_the_name_fails_instead_of_sending_it(tmp_path: Path) -> None:
    for folder, name in (("sms", "called"), ("sms_reply", "status"), ("bot", "help")):
        path = tmp_path / "en" / folder / f"{name}.txt"
        path.parent.mkdir(parents=True)
        path.write_text("Hello {{ name }}, {{ number }}", encoding="utf-8")
    catalogue = Catalogue(tmp_path)
    with pytest.raises(UndefinedError, match="'name' is undefined"):
        catalogue.render_notification("called", "sms", "en", {"name": NAME, "number": "A-1"})
    with pytest.raises(UndefinedError, match="'name' is undefined"):
        catalogue.render_sms_reply("status", "en", name=NAME, number="A-1")
    with pytest.raises(UndefinedError, match="'name' is undefined"):
        catalogue.render_text("help", "en", name=NAME, number="A-1")


def test_staff_texts_may_name_the_patient() -> None:
    """The staff member at the counter greets the patient by the name they gave."""
    text = render_text(
        "next_called", "en", number="A-042", name=NAME, counter="2", queue="PHARM", priority=0
    )
    assert NAME in text
