"""docker-compose.yml cannot run here (no Docker engine); this checks its shape."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_has_the_production_services() -> None:
    services = compose()["services"]
    assert {"web", "worker", "bot", "postgres", "redis"} <= set(services)
    assert services["web"]["command"][:2] == ["nextup", "serve"]
    assert services["worker"]["command"] == ["nextup", "worker"]
    assert services["bot"]["command"] == ["nextup", "bot"]


def test_app_services_point_at_postgres_and_redis_in_production() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "bot", "migrate"):
        env = services[name]["environment"]
        assert env["NEXTUP_ENV"] == "production"
        assert env["NEXTUP_DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in env["NEXTUP_DATABASE_URL"]
        assert env["NEXTUP_REDIS_URL"] == "redis://redis:6379/0"
        assert env["NEXTUP_SECRET_KEY"], "production refuses to start without a secret key"


def test_every_variable_is_a_real_setting() -> None:
    env = compose()["services"]["web"]["environment"]
    known = {f"NEXTUP_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known


def test_services_wait_for_their_dependencies() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "bot"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert "redis" in services[name]["depends_on"]
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]


def test_required_secrets_fail_loudly_when_unset() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in ("POSTGRES_PASSWORD", "NEXTUP_SECRET_KEY"):
        assert re.search(r"\$\{" + secret + r":\?", text), secret
