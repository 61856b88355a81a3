"""What a handler needs from its app: the composition root built at start."""

from __future__ import annotations

from sanic import Request

from nextup.wiring import Container


def container_of(request: Request) -> Container:
    container: Container = request.app.ctx.container
    return container
