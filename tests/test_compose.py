"""docker-compose.yml cannot run here (no Docker engine). These tests read it the way
`docker compose` does — variables interpolated from a .env, services chosen by profile —
and check what each service would be started with. What the image holds is tested in
tests/packaging/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings
from nextup.cli import main

ROOT = Path(__file__).resolve().parent.parent
MINIMAL_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "NEXTUP_SECRET_KEY": "a-long-secret-key-of-at-least-32-characters",
    "NEXTUP_PUBLIC_URL": "https://queue.example-hospital.org",
}
"""The .env of an SMS-only (or dev-inbox-only) hospital: what compose insists on, no more."""

VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` (empty counts as unset)."""

    def value(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise MissingVariable(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return VARIABLE.sub(value, text)


def interpolated(node: Any, env: dict[str, str]) -> Any:
    """Compose parses the YAML first and interpolates its strings: `KEY: ${X:-}` is ""."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(value, env) for value in node]
    return node


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    result: dict[str, Any] = interpolated(loaded, MINIMAL_ENV if env is None else env)
    return result


def started(config: dict[str, Any], profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The services `docker compose [--profile P] up` starts."""
    return {
        name: service
        for name, service in config["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


def app_services(services: dict[str, Any]) -> dict[str, Any]:
    """Those running the NextUp image (built here), not PostgreSQL or Redis."""
    return {name: s for name, s in services.items() if s.get("build") == "."}


def test_has_the_production_services() -> None:
    services = compose()["services"]
    assert {"web", "worker", "bot", "postgres", "redis"} <= set(services)
    assert services["web"]["command"][:2] == ["nextup", "serve"]
    assert services["worker"]["command"] == ["nextup", "worker"]
    assert services["bot"]["command"] == ["nextup", "bot"]


def test_web_serves_and_dispatches_and_leaves_polling_to_the_bot_service() -> None:
    services = compose()["services"]
    assert services["web"]["environment"]["NEXTUP_ROLES"] == "web,dispatcher"
    assert "NEXTUP_ROLES" not in services["bot"]["environment"]  # `nextup bot` is its role


def test_app_services_point_at_postgres_and_redis_in_production() -> None:
    for name, service in app_services(compose()["services"]).items():
        env = service["environment"]
        assert env["NEXTUP_ENV"] == "production", name
        assert env["NEXTUP_DATABASE_URL"] == ("postgres://nextup:pg-secret@postgres:5432/nextup"), (
            name
        )
        assert env["NEXTUP_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["NEXTUP_SECRET_KEY"] == MINIMAL_ENV["NEXTUP_SECRET_KEY"], name


def test_every_variable_is_a_real_setting() -> None:
    known = {f"NEXTUP_{name.upper()}" for name in Settings.model_fields}
    for name, service in app_services(compose()["services"]).items():
        assert set(service["environment"]) <= known, (name, set(service["environment"]) - known)


def test_services_wait_for_their_dependencies() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "bot"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert "redis" in services[name]["depends_on"]
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]


@pytest.mark.parametrize("secret", sorted(MINIMAL_ENV))
def test_required_secrets_fail_loudly_when_unset(secret: str) -> None:
    with pytest.raises(MissingVariable, match=secret):
        compose({k: v for k, v in MINIMAL_ENV.items() if k != secret})


def run_as(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    """The service's `nextup` command, in this process, with the service's environment.
    Only for commands that decide before connecting to anything."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in Settings.model_fields:
        monkeypatch.delenv(f"NEXTUP_{name.upper()}", raising=False)
    for name, value in service["environment"].items():
        assert isinstance(value, str), (name, value)
        monkeypatch.setenv(name, value)
    command = service["command"]
    assert command[0] == "nextup"
    return main(command[1:])


def test_no_service_started_by_default_needs_a_telegram_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An SMS-only hospital runs `docker compose up`: the bot, which refuses to start without
    a token (and `restart: unless-stopped` would start it again forever), stays down."""
    default = app_services(started(compose()))
    assert "bot" not in default and {"migrate", "web", "worker"} <= set(default)
    bot = compose()["services"]["bot"]
    assert run_as(bot, monkeypatch, tmp_path) == 2
    assert "NEXTUP_TELEGRAM_TOKEN" in capsys.readouterr().err


def test_the_telegram_profile_starts_the_bot() -> None:
    with_token = compose(MINIMAL_ENV | {"NEXTUP_TELEGRAM_TOKEN": "123:abc"})
    services = app_services(started(with_token, ("telegram",)))
    assert services["bot"]["environment"]["NEXTUP_TELEGRAM_TOKEN"] == "123:abc"
    assert services["bot"]["environment"]["NEXTUP_TELEGRAM_MODE"] == "polling"


def test_the_profiles_are_documented() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    for services in compose()["services"].values():
        for profile in services.get("profiles", ()):
            assert f"--profile {profile}" in text, profile
