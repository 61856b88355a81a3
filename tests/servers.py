"""Serving the Sanic app inside a test's (or a benchmark's) own event loop, over real HTTP."""

from __future__ import annotations

import socket
from typing import Any

from sanic import Sanic
from sanic.server import AsyncioServer


async def serve(app: Sanic[Any, Any]) -> tuple[AsyncioServer, str]:
    """The app on a free loopback port, and its base URL. Sanic reads `port=0` as "unset"
    (8000), so the socket is bound first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.start_serving()
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def shut(server: AsyncioServer) -> None:
    live = getattr(server.app.ctx, "live", None)
    if live is not None:  # the listeners that stop it run only under `app.run`
        await live.stop()
    await server.close()
    await server.wait_closed()
