"""Point 6: every response carries the security headers, from one response middleware; the
pages run no inline code, so the policy can refuse it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Api
from tests.web.sessions import console_client

TEMPLATES = Path(__file__).parents[2] / "web" / "templates"
PAGE = {"Accept": "text/html"}


def assert_guarded(response: httpx.Response) -> None:
    headers = response.headers
    policy = headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert directives["script-src"].startswith("'self'")
    assert directives["object-src"] == "'none'"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] in ("same-origin", "no-referrer")


async def every_kind_of_response(api: Api, ticket: dict[str, Any]) -> dict[str, httpx.Response]:
    async with console_client(api, "admin") as staff:
        got = {
            "console": await staff.get("/console"),
            "board": await staff.get("/console/queues/PHARM/board"),
            "ticket (console)": await staff.get(f"/console/tickets/{ticket['id']}"),
            "settings": await staff.get("/console/queues/PHARM/settings"),
            "csv": await staff.get("/console/analytics.csv?queue=PHARM"),
            "analytics": await staff.get("/console/analytics"),
        }
    client = api.client
    got |= {
        "login": await client.get("/console/login"),
        "patient page": await client.get(f"/t/{ticket['token']}"),
        "display": await client.get("/display/PHARM"),
        "display state": await client.get("/display/PHARM/state"),
        "poster": await client.get("/q/PHARM/poster"),
        "docs": await client.get("/docs"),
        "openapi": await client.get("/openapi.json"),
        "api": await api.call("GET", f"/api/v1/tickets/{ticket['id']}"),
        "api error": await api.call("GET", "/api/v1/queues/NOPE"),
        "static": await client.get("/static/app.css"),
        "missing page": await client.get("/nowhere", headers=PAGE),
        "healthz": await client.get("/healthz"),
    }
    return got


async def test_every_response_carries_the_security_headers(
    api: Api, pharmacy: dict[str, Any]
) -> None:
    for name, response in (await every_kind_of_response(api, pharmacy)).items():
        assert response.status_code in (200, 404), (name, response.status_code)
        assert_guarded(response)
        assert "strict-transport-security" not in response.headers, name  # plain http


async def test_personal_data_is_never_stored_by_browsers_or_proxies(
    api: Api, pharmacy: dict[str, Any]
) -> None:
    responses = await every_kind_of_response(api, pharmacy)
    for name in (
        "console",
        "board",
        "ticket (console)",
        "settings",
        "csv",
        "patient page",
        "display",
        "display state",
        "api",
        "api error",
    ):
        assert "no-store" in responses[name].headers["cache-control"], name
    assert "no-store" not in responses["static"].headers.get("cache-control", "")


async def test_hsts_when_the_public_url_is_https(
    api: Api, pharmacy: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = api.app.ctx.container.settings
    monkeypatch.setattr(settings, "public_url", "https://queue.example.org")
    response = await api.client.get("/display/PHARM")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_hsts_behind_a_trusted_proxy_that_says_https(
    api: Api, pharmacy: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    untrusted = await api.client.get("/healthz", headers=https)
    assert "strict-transport-security" not in untrusted.headers  # anyone can send that header
    monkeypatch.setattr(api.app.ctx.container.settings, "trusted_proxies", "127.0.0.1")
    trusted = await api.client.get("/healthz", headers=https)
    assert "strict-transport-security" in trusted.headers
    assert "strict-transport-security" not in (await api.client.get("/healthz")).headers


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<style|\sstyle\s*=", re.I)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_hold_no_inline_code_the_policy_would_refuse(template: Path) -> None:
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text)
    assert not INLINE_HANDLER.search(text)
    assert not INLINE_STYLE.search(text)
