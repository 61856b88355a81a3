"""The Sanic application: API, docs and operations endpoints over one container."""

from __future__ import annotations

import itertools
import time
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from core.wiring import Container
from web import api, docs, errors, ops, pages

_app_ids = itertools.count(1)
MAX_BODY_BYTES = 64 * 1024


def create_app(container: Container, name: str | None = None) -> Sanic[Any, Any]:
    """Builds an app; the caller starts and stops the container around it."""
    app: Sanic[Any, Any] = Sanic(name or f"nextup-{next(_app_ids)}")
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.container = container
    app.blueprint(api.bp)
    app.blueprint(docs.bp)
    app.blueprint(ops.bp)
    app.blueprint(pages.bp)
    errors.install(app)

    @app.on_request
    async def start_timer(request: Request) -> None:
        request.ctx.started = time.perf_counter()

    @app.on_response  # type: ignore[untyped-decorator]
    async def count(request: Request, response: HTTPResponse) -> None:
        ops.REQUESTS.labels(request.method, str(response.status)).inc()
        started = getattr(request.ctx, "started", None)
        if started is not None:
            ops.LATENCY.labels(request.method).observe(time.perf_counter() - started)

    return app
