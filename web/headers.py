"""Security headers on every response, set in one place.

The pages load scripts and styles from /static only (no inline code, no CDN), so the
Content-Security-Policy can refuse everything else; no page may be framed (clickjacking on
the console's buttons); responses about people are not kept by browsers or proxies.
"""

from __future__ import annotations

from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from web.clients import over_https
from web.deps import container_of

_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CSP = "; ".join(f"{name} {value}" for name, value in _POLICY.items())
PRIVATE_PREFIXES = ("/console", "/api/", "/t/", "/display/", "/ws/")
"""Names, phone numbers, ticket links, the state of a queue: never cached."""
HSTS = "max-age=31536000"
"""A year; without includeSubDomains, which would bind the hospital's other hosts."""


def _served_over_https(request: Request) -> bool:
    return container_of(request).settings.base_url.startswith("https://") or over_https(request)


async def add_security_headers(request: Request, response: BaseHTTPResponse) -> None:
    """Response middleware; a header a route set on purpose is kept."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Not no-referrer: with it browsers send `Origin: null` on the pages' own forms, which
    # the origin checks must refuse. same-origin keeps ticket links off other sites' logs.
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(PRIVATE_PREFIXES):
        headers.setdefault("Cache-Control", "no-store")
    if _served_over_https(request):
        headers.setdefault("Strict-Transport-Security", HSTS)


def install(app: Sanic[Any, Any]) -> None:
    app.register_middleware(add_security_headers, "response")
