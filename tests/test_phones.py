"""Phone numbers are stored in E.164, however they were typed."""

from __future__ import annotations

import pytest

from core.domain.errors import InvalidValue
from core.phones import normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+34600111222", None, "+34600111222"),
        ("+34 600 11 12 22", None, "+34600111222"),
        ("0034 600 111 222", None, "+34600111222"),
        ("600 111 222", "ES", "+34600111222"),
        ("+49 151 1234567", None, "+491511234567"),
        ("0151 1234567", "DE", "+491511234567"),
        ("(202) 555-0143", "US", "+12025550143"),
        ("+44 (20) 7946-0958", "GB", "+442079460958"),
        ("+1 202 555 0143", "ES", "+12025550143"),
    ],
)
def test_normalised_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "says"),
    [
        ("600 111 222", None, "no country code"),
        ("call me maybe", "ES", "not a phone number"),
        ("+1", None, "not a phone number"),
        ("12", "US", "possible length"),
        ("+49 151\x00", None, "not a phone number"),
        ("", "US", "not a phone number"),
        ("+" + "1" * 40, None, "not a phone number"),
    ],
)
def test_what_is_not_a_number_says_why(raw: str, region: str | None, says: str) -> None:
    with pytest.raises(InvalidValue, match=says):
        normalize_phone(raw, region)
