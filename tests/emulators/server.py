"""What every emulator shares: a real aiohttp server on a free loopback port, a client
session for the webhooks it posts, and waiting that a stop() cuts short."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Self

import aiohttp
from aiohttp import web


class EmulatorServer:
    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    client_timeout_s = 30.0
    """How long a webhook the emulator posts may take."""

    async def start(self) -> None:
        self._stopping.clear()
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        timeout = aiohttp.ClientTimeout(total=self.client_timeout_s)
        self._client = aiohttp.ClientSession(timeout=timeout)

    async def stop(self) -> None:
        self._stopping.set()  # wakes whatever waits in _sleep or on a held-open request
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _notify(self) -> None:
        """Wakes every `_wait_until`: something was recorded."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by stop() so a server shutdown never waits for it."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
