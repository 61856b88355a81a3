from __future__ import annotations

import pytest

from core.settings import Environment, Settings, SettingsError, TelegramMode, load_settings


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
    assert settings.default_language == "en"
    assert settings.env is Environment.DEVELOPMENT
    assert settings.is_embedded


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
