from __future__ import annotations

import pytest

from core.settings import (
    Environment,
    LogFormat,
    ProcessRole,
    Settings,
    SettingsError,
    TelegramMode,
    load_settings,
)


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"NEXTUP_{name.upper()}", raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite://./nextup.sqlite3"
    assert settings.redis_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.telegram_mode is TelegramMode.POLLING
    assert settings.twilio_api_base == "https://api.twilio.com"
    assert settings.twilio_rate_per_s == 1.0
    assert settings.twilio_voice_from is None and not settings.voice_configured
    assert settings.phone_region is None
    assert not settings.sms_configured
    assert settings.default_language == "en"
    assert settings.env is Environment.DEVELOPMENT
    assert settings.is_embedded
    assert settings.role_set == {ProcessRole.WEB, ProcessRole.DISPATCHER, ProcessRole.BOT}
    assert settings.log_format is LogFormat.TEXT
    assert settings.bot_lock_ttl_s == 20.0


def test_roles_are_read_in_any_order_and_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTUP_ROLES", " Bot, web ")
    settings = load_settings()
    assert settings.roles == "web,bot"
    assert settings.role_set == {ProcessRole.WEB, ProcessRole.BOT}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("web,poller", "unknown role poller: use one or more of web,dispatcher,bot"),
        (" , ", "no role"),
    ],
)
def test_bad_roles_are_named(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("NEXTUP_ROLES", value)
    with pytest.raises(SettingsError, match=f"NEXTUP_ROLES: {message}"):
        load_settings()


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTUP_DATABASE_URL", "postgres://u:p@db:5432/nextup")
    monkeypatch.setenv("NEXTUP_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("NEXTUP_PORT", "9000")
    monkeypatch.setenv("NEXTUP_PUBLIC_URL", "https://queue.example-hospital.org/")
    settings = load_settings()
    assert not settings.is_embedded
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.port == 9000
    assert settings.base_url == "https://queue.example-hospital.org"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NEXTUP_PORT", "eighty", "NEXTUP_PORT"),
        ("NEXTUP_PORT", "70000", "between 0 and 65535"),
        ("NEXTUP_DATABASE_URL", "mysql://x", "NEXTUP_DATABASE_URL"),
        ("NEXTUP_REDIS_URL", "http://x", "NEXTUP_REDIS_URL"),
        ("NEXTUP_TELEGRAM_MODE", "carrier-pigeon", "NEXTUP_TELEGRAM_MODE"),
        ("NEXTUP_ENV", "staging", "NEXTUP_ENV"),
        ("NEXTUP_LOG_FORMAT", "xml", "NEXTUP_LOG_FORMAT"),
        ("NEXTUP_BOT_LOCK_TTL_S", "0", "NEXTUP_BOT_LOCK_TTL_S"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_production_requires_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTUP_ENV", "production")
    monkeypatch.delenv("NEXTUP_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="NEXTUP_SECRET_KEY is required"):
        load_settings()
    monkeypatch.setenv("NEXTUP_SECRET_KEY", "s" * 40)
    assert load_settings().signing_key() == "s" * 40


def test_embedded_secret_key_is_generated_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.delenv("NEXTUP_SECRET_KEY", raising=False)
    first = load_settings().signing_key()
    assert len(first) > 40
    assert load_settings().signing_key() == first


TWILIO = {"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": "t" * 32}


def test_sms_senders_are_numbers_or_one_messaging_service() -> None:
    numbers = load_settings(**TWILIO, twilio_from="+15550000001, +15550000002")
    assert numbers.sms_configured
    assert numbers.twilio_senders == ["+15550000001", "+15550000002"]
    service = load_settings(**TWILIO, twilio_from="MG" + "a" * 32)
    assert service.twilio_senders == ["MG" + "a" * 32]
    for bad in ("5550000001", "+1555,MGxyz", "MG123", "+15550000001;+15550000002"):
        with pytest.raises(SettingsError, match="NEXTUP_TWILIO_FROM"):
            load_settings(**TWILIO, twilio_from=bad)


def test_twilio_needs_all_three_settings() -> None:
    with pytest.raises(SettingsError, match="also needs NEXTUP_TWILIO_FROM"):
        load_settings(**TWILIO)
    with pytest.raises(SettingsError, match="NEXTUP_TWILIO_AUTH_TOKEN"):
        load_settings(twilio_account_sid="AC" + "0" * 32, twilio_from="+15550000001")


def test_voice_calls_need_the_sms_channel_and_one_e164_number() -> None:
    voice = load_settings(**TWILIO, twilio_from="+15550000001", twilio_voice_from="+15550000009")
    assert voice.voice_configured and voice.twilio_voice_from == "+15550000009"
    with pytest.raises(SettingsError, match="VOICE_FROM also needs NEXTUP_TWILIO_ACCOUNT_SID"):
        load_settings(twilio_voice_from="+15550000009")
    for bad in ("5550000009", "+15550000009,+15550000008", "MG" + "a" * 32):
        with pytest.raises(SettingsError, match="NEXTUP_TWILIO_VOICE_FROM"):
            load_settings(**TWILIO, twilio_from="+15550000001", twilio_voice_from=bad)


def test_phone_region_is_a_region_code() -> None:
    assert load_settings(phone_region="es").phone_region == "ES"
    with pytest.raises(SettingsError, match="NEXTUP_PHONE_REGION"):
        load_settings(phone_region="Spain")
