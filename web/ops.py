"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import logging
import re

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from core.storage import db
from web.deps import container_of

log = logging.getLogger(__name__)
bp = Blueprint("ops")

REQUESTS = Counter("nextup_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("nextup_http_request_seconds", "HTTP request latency", ["method", "route"])
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of a request no route took (a 404, a 405): never its path, which a client
chooses, so that made-up requests cannot grow the label set without bound."""


def labels(request: Request) -> tuple[str, str]:
    """(method, route template): both from a fixed set, whatever the client sent."""
    method = request.method if request.method in KNOWN_METHODS else "other"
    route = getattr(request, "route", None)
    template = "/" + re.sub(r"<(\w+):[^>]*>", r"<\1>", route.path) if route else UNMATCHED
    return method, template


def count(request: Request, status: int, elapsed_s: float | None) -> None:
    method, route = labels(request)
    REQUESTS.labels(method, route, str(status)).inc()
    if elapsed_s is not None:
        LATENCY.labels(method, route).observe(elapsed_s)


@bp.get("/healthz")
async def healthz(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@bp.get("/readyz")
async def readyz(request: Request) -> HTTPResponse:
    checks: dict[str, str] = {}
    try:
        await db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; say which
        log.warning("readiness: database: %s", exc)
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await container_of(request).bus.ping()
        checks["bus"] = "ok"
    except Exception as exc:
        log.warning("readiness: bus: %s", exc)
        checks["bus"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return json(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    return raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)
