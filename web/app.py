"""The Sanic application: every blueprint and middleware over the services the composition
root passes in (anything that satisfies `web.deps.Services`)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from web import errors, headers, inputs, ops, paths
from web.api import docs
from web.api import routes as api
from web.console import analytics_page, broadcast_form, help_page, inbox_page, settings_page
from web.console import routes as console
from web.deps import Services
from web.live import routes as live
from web.live.hub import LiveHub
from web.public import join, poster
from web.public import routes as public
from web.public.join_guard import FormTokens, SlidingWindow
from web.session import LoginLimiter, SessionSigner

_app_ids = itertools.count(1)
MAX_BODY_BYTES = 64 * 1024
STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    container: Services, name: str | None = None, log_config: dict[str, Any] | None = None
) -> Sanic[Any, Any]:
    """Builds an app; the caller starts and stops the container around it. `log_config`
    (a `dictConfig`) is applied by Sanic in every process that builds the app."""
    app: Sanic[Any, Any] = Sanic(name or f"nextup-{next(_app_ids)}", log_config=log_config)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.WEBSOCKET_PING_INTERVAL = live.HEARTBEAT_S
    app.ctx.container = container
    app.ctx.sessions = SessionSigner(container.settings.signing_key())
    app.ctx.login_limiter = LoginLimiter()
    app.ctx.join_forms = FormTokens(container.settings.signing_key())
    app.ctx.join_limiter = SlidingWindow()
    app.ctx.bot_links = poster.BotLinks()
    app.ctx.live = LiveHub(container.bus, container.queues)
    for blueprint in (
        api.bp,
        console.bp,
        analytics_page.bp,
        broadcast_form.bp,
        settings_page.bp,
        inbox_page.bp,
        help_page.bp,
        docs.bp,
        live.bp,
        ops.bp,
        poster.bp,
        join.bp,
        public.bp,
    ):
        app.blueprint(blueprint)
    app.static("/static", STATIC_DIR, name="static")
    errors.install(app)
    paths.install(app)
    inputs.install(app)
    headers.install(app)

    @app.before_server_stop
    async def stop_live(app: Sanic[Any, Any]) -> None:
        await app.ctx.live.stop()

    @app.on_request
    async def start_timer(request: Request) -> None:
        request.ctx.started = time.perf_counter()

    @app.on_response  # type: ignore[untyped-decorator]
    async def count(request: Request, response: HTTPResponse) -> None:
        started = getattr(request.ctx, "started", None)
        ops.count(request, response.status, time.perf_counter() - started if started else None)

    return app
