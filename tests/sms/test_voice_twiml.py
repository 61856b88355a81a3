"""What the call ladder's voice call says: the message twice, in the patient's language."""

from __future__ import annotations

from xml.etree import ElementTree

from sms.voice import spoken, voice_status_url


def says(twiml: str) -> list[tuple[str | None, str | None]]:
    root = ElementTree.fromstring(twiml)
    assert root.tag == "Response"
    return [(e.text, e.get("language")) for e in root.iter("Say")]


def test_the_message_is_said_twice_in_the_patients_language() -> None:
    assert (
        says(spoken("Número A 001, ventanilla 2.", "es"))
        == [("Número A 001, ventanilla 2.", "es-ES")] * 2
    )
    assert (
        says(spoken("Ticket A 001, counter 2.", "en"))
        == [("Ticket A 001, counter 2.", "en-US")] * 2
    )
    assert "<Pause" in spoken("x", "en")


def test_a_language_without_a_voice_is_spoken_in_english_and_text_is_escaped() -> None:
    twiml = spoken("A & B <counter> 2", None)
    assert says(twiml) == [("A & B <counter> 2", "en-US")] * 2
    assert says(spoken("x", "de")) == [("x", "en-US")] * 2


def test_the_status_callback_names_the_record() -> None:
    assert voice_status_url("https://q.example.org", "abc") == (
        "https://q.example.org/hooks/twilio/voice-status?n=abc"
    )
