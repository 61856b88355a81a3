"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from core.domain.notify import Channel
from core.storage import db, live_figures
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


class DatabaseFigures(Collector):
    """The figures read from the database at this scrape (`core.storage.live_figures`):
    the same from every process, unlike the counters above, which are each process's own."""

    def __init__(
        self, lines: list[live_figures.LineFigures], outbox_overdue_s: dict[str, float]
    ) -> None:
        self.lines = lines
        self.outbox_overdue_s = outbox_overdue_s

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "nextup_queue_waiting", "Patients waiting in the queue's line", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "nextup_queue_longest_wait_seconds",
            "From the join of the longest-waiting patient to now (0: nobody waiting)",
            labels=["queue"],
        )
        alert = GaugeMetricFamily(
            "nextup_queue_wait_alert_seconds",
            "The queue's configured wait_alert_s, for rules to compare the longest wait with",
            labels=["queue"],
        )
        for line in self.lines:
            waiting.add_metric([line.queue], line.waiting)
            longest.add_metric([line.queue], line.longest_wait_s)
            alert.add_metric([line.queue], line.wait_alert_s)
        oldest = GaugeMetricFamily(
            "nextup_outbox_oldest_seconds",
            "How long the oldest notification due to be sent has been due (0: none)",
            labels=["channel"],
        )
        channels = sorted({c.value for c in Channel} | set(self.outbox_overdue_s))
        for channel in channels:
            oldest.add_metric([channel], self.outbox_overdue_s.get(channel, 0.0))
        yield from (waiting, longest, alert, oldest)


async def database_figures(request: Request) -> bytes:
    """Two read-only statements (`core.storage.live_figures`); a database that does not
    answer leaves these figures out of the scrape rather than failing it, so the process's
    own counters still arrive and `/readyz` is what says the database is down."""
    now = container_of(request).clock()
    try:
        collector = DatabaseFigures(
            await live_figures.lines(now), await live_figures.outbox_overdue_s(now)
        )
    except Exception as exc:
        log.warning("metrics: the database figures are left out: %s", exc)
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    body = generate_latest() + await database_figures(request)
    return raw(body, content_type=CONTENT_TYPE_LATEST)
