"""Masking of phone numbers, tokens and credentials: the patterns on their own, then log
records through `install_log_masking` (the whole `nextup serve` set-up is in
tests/security/test_log_masking.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.redact import LogMasking, install_log_masking, mask_phone, mask_record, redact

PHONE = "+34600111222"
PATIENT_TOKEN = "Zq3xSecretTokenValue0123"
API_TOKEN = "nxt_Pq8vSECRETapiTOKENvalue_0123456789abcdef"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TWILIO_ACCOUNT = "AC0123456789abcdef0123456789abcdef"
SECRETS = (PHONE, "600111222", PATIENT_TOKEN, API_TOKEN, BOT_TOKEN, "AAHdqTcvCH1v", TWILIO_ACCOUNT)


def assert_nothing_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+34600111222", "+3••••••••22"),
        ("+15550100123", "+1••••••••23"),
        ("600111222", "6••••••22"),
        ("%2B34600111222", "%2B3••••••••22"),
        ("123", "•••"),
    ],
)
def test_a_phone_keeps_its_country_digit_and_last_two(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_e164_in_text() -> None:
    out = redact(f"SMS from {PHONE} (join); reply to 34600111222 held back at 10:30 for 15 min")
    assert out == "SMS from +3••••••••22 (join); reply to 3••••••••22 held back at 10:30 for 15 min"


def test_json_body() -> None:
    body = json.dumps(
        {
            "chat_id": 987654321,
            "to": PHONE,
            "text": f"Your ticket: https://q.example.org/t/{PATIENT_TOKEN}",
            "token": PATIENT_TOKEN,
        }
    )
    out = redact(body)
    assert_nothing_secret(out)
    assert "987654321" not in out
    assert '"to": "+3••••••••22"' in out and "/t/Zq3x…" in out and '"token": "…"' in out
    assert '"chat_id": 9••••••21' in out


def test_urls() -> None:
    lines = [
        f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage",
        f"POST Request: https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json",
        "To=%2B34600111222&From=%2B15550001234&Body=hi&StatusCallback=x",
        f"GET /t/{PATIENT_TOKEN}?lang=es",
        f"websocket /ws/tickets/{PATIENT_TOKEN} closed",
        f"GET /api/v1/public/tickets/{PATIENT_TOKEN}",
        f"https://{TWILIO_ACCOUNT}:s3cretAuthToken@api.twilio.com/2010-04-01",
        f"GET /hooks/twilio/sms?token={PATIENT_TOKEN}&x=1",
    ]
    out = redact("\n".join(lines))
    assert_nothing_secret(out)
    assert "s3cretAuthToken" not in out and "15550001234" not in out
    assert "/bot123456789:…/sendMessage" in out  # the id is public, the rest is not
    assert "/Accounts/AC…cdef/Messages.json" in out
    assert "To=%2B3••••••••22&From=%2B1••••••••34&Body=hi" in out
    assert "/t/Zq3x…?lang=es" in out and "/ws/tickets/Zq3x… closed" in out
    assert "//…@api.twilio.com" in out and "?token=…&x=1" in out


def test_short_chat_ids_by_name() -> None:
    out = redact('chat 1234567 linked; {"chat_id": 20001} chat=-4001234; chat 12 of 30')
    assert out == 'chat 1••••67 linked; {"chat_id": 2••01} chat=-4••••34; chat 12 of 30'


def test_credentials_by_name() -> None:
    out = redact(
        f"Authorization: Bearer {API_TOKEN}\n"
        "X-Telegram-Bot-Api-Secret-Token: webhookSecretValue\n"
        "Authorization: Basic QUMwMTIzOnNlY3JldA==\n"
        "password=hunter2hunter2 auth_token='abcdef0123456789'"
    )
    for secret in (API_TOKEN, "webhookSecretValue", "QUMwMTIzOnNlY3JldA", "hunter2", "abcdef01"):
        assert secret not in out, (secret, out)
    assert redact(f"issued {API_TOKEN} to robot") == "issued nxt_… to robot"


def test_what_is_not_personal_stays() -> None:
    text = (
        "queue PHARM: A-012 called to counter 2 at 2026-12-05T10:30:00+00:00, wait 754.5 s, "
        "400 waiting, message SM0123456789abcdef0123456789abcdef sent"
    )
    assert redact(text) == text


def test_masking_twice_changes_nothing() -> None:
    text = f"{PHONE} /t/{PATIENT_TOKEN} bot{BOT_TOKEN} {API_TOKEN} token={PATIENT_TOKEN}"
    once = redact(text)
    assert redact(once) == once


@pytest.fixture
def masked_logging() -> Iterator[io.StringIO]:
    """A logger with a handler of its own, and the process-wide masking installed (and
    taken off again afterwards)."""
    factory = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(name)s %(message)s [%(request)s]", defaults={"request": "-"})
    )
    logger = logging.getLogger("test_redact.lib")
    logger.addHandler(handler)
    logger.propagate = False
    unmasked = [h for h in all_handlers() if not any(isinstance(f, LogMasking) for f in h.filters)]
    install_log_masking()
    try:
        yield stream
    finally:
        logging.setLogRecordFactory(factory)
        logger.removeHandler(handler)
        for each in unmasked:
            for masking in [f for f in each.filters if isinstance(f, LogMasking)]:
                each.removeFilter(masking)


def all_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    found = [h for each in loggers if isinstance(each, logging.Logger) for h in each.handlers]
    return [*found, *([logging.lastResort] if logging.lastResort else [])]


def test_records_of_any_logger_are_masked(masked_logging: io.StringIO) -> None:
    log = logging.getLogger("test_redact.lib")
    log.warning("POST %s failed", f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage")
    log.warning("to %(to)s", {"to": PHONE})
    log.warning("", extra={"request": f"GET http://h/t/{PATIENT_TOKEN}"})  # Sanic's access line
    try:
        raise ValueError(f"bad number {PHONE} for {API_TOKEN}")
    except ValueError:
        log.exception("send failed")
    out = masked_logging.getvalue()
    assert_nothing_secret(out)
    assert "/bot123456789:…/sendMessage failed" in out
    assert "to +3••••••••22" in out and "[GET http://h/t/Zq3x…]" in out
    assert "ValueError: bad number +3••••••••22 for nxt_…" in out


def test_a_handler_configured_later_gets_masked_records(masked_logging: io.StringIO) -> None:
    """Sanic sets up its handlers after `nextup` did: the records it writes are masked
    as they are made."""
    stream = io.StringIO()
    late = logging.StreamHandler(stream)
    logger = logging.getLogger("test_redact.late")
    logger.addHandler(late)
    logger.propagate = False
    try:
        logger.warning("SMS to %s", PHONE)
    finally:
        logger.removeHandler(late)
    assert stream.getvalue() == "SMS to +3••••••••22\n"


def test_a_filter_on_one_handler() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install_log_masking(handler)
    install_log_masking(handler)
    assert sum(isinstance(f, LogMasking) for f in handler.filters) == 1
    logger = logging.getLogger("test_redact.one")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("chat %d sent %s", 987654321, f"/t/{PATIENT_TOKEN}")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "chat 9••••••21 sent /t/Zq3x…\n"


def test_a_record_whose_arguments_do_not_fit_stays_an_error_with_its_arguments_masked() -> None:
    """Logging reports it (with the call that made it) and prints its arguments."""
    # Made directly, not through the record factory another test may have installed.
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "%s to %s and %s", ("SMS", PHONE), None
    )
    mask_record(record)
    assert (record.msg, record.args) == ("%s to %s and %s", ("SMS", "+3" + "•" * 8 + "22"))
    with pytest.raises(TypeError):
        record.getMessage()


def test_extra_fields_are_masked_inside_dicts_and_lists() -> None:
    """Sanic's formatter prints `extra` fields, nested ones too."""
    record = logging.makeLogRecord(
        {"msg": "sent", "payload": {"to": PHONE, "ids": [987654321, 200, f"/t/{PATIENT_TOKEN}"]}}
    )
    mask_record(record)
    masked = {"to": "+3" + "•" * 8 + "22", "ids": ["9" + "•" * 6 + "21", 200, "/t/Zq3x…"]}
    assert vars(record)["payload"] == masked
