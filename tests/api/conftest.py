"""The API tests' server fixture.

It replaces the shared `api` fixture for this directory only: that one passes `port=0` to
Sanic, which treats 0 as "unset" and binds 8000, so two test runs on one machine collide.
Here the socket is bound to a free port first and handed to Sanic. Password hashing is
made cheap too: the three accounts per test would otherwise cost about a second each time,
and no API test is about password strength.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sanic import Sanic

from core.services import accounts
from core.wiring import Container
from tests.conftest import Api
from web.app import create_app


@dataclass
class ServedApi(Api):
    app: Sanic[Any, Any]


@pytest.fixture
async def api(container: Container, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ServedApi]:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    app = create_app(container)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.start_serving()
    port = sock.getsockname()[1]
    tokens = {}
    for role in accounts.Role:
        await accounts.create_account(f"{role.value}-user", role.value, "correct horse")
        tokens[role.value] = await accounts.issue_token(f"{role.value}-user")
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield ServedApi(client, tokens, base_url, app)
    await server.close()
    await server.wait_closed()
