"""The values privacy stands on, without a database: keyed hashes of addresses, how a join
is recorded as consent, and how a request names its person."""

from __future__ import annotations

import pytest

from core.domain.consent import consent_of
from core.domain.errors import InvalidValue
from core.services.privacy import Subject
from core.storage.pseudonyms import derive_key, keyed_hash


def test_an_address_hash_needs_the_key_and_names_its_channel() -> None:
    key = derive_key("one secret key")
    hashed = keyed_hash(key, "sms", "+34600111222")
    assert len(hashed) == 64 and "34600111222" not in hashed
    assert hashed == keyed_hash(derive_key("one secret key"), "sms", "+34600111222")
    assert hashed != keyed_hash(derive_key("another secret key"), "sms", "+34600111222")
    assert keyed_hash(key, "sms", "123") != keyed_hash(key, "telegram", "123")


@pytest.mark.parametrize(
    ("actor", "consent"),
    [
        ("patient:sms", "sms_keyword"),
        ("patient:telegram", "telegram_command"),
        ("patient:web", "web_join"),
        ("staff:reception", "staff_walk_in"),
    ],
)
def test_the_consent_of_a_join_follows_who_made_it(actor: str, consent: str) -> None:
    assert consent_of(actor) == consent


def test_a_request_names_one_person_by_one_thing() -> None:
    assert Subject.of("+34 600 111 222", None) == Subject("phone", "+34600111222")
    assert Subject.of(None, "918273645").holder == {"telegram_chat_id": 918273645}
    assert Subject.of("600111222", None, "ES").address == "+34600111222"
    for phone, chat in [("+34600111222", 918273645), (None, None), ("not a number", None)]:
        with pytest.raises(InvalidValue):
            Subject.of(phone, chat)
    with pytest.raises(InvalidValue):
        Subject.of(None, "x1")
