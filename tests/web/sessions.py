"""Logging in to the console over plain HTTP, as a browser would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.conftest import Api

PASSWORD = "correct horse"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


async def log_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    """GETs the form (for its one-time login token and cookie), then POSTs it."""
    form = await client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    return await client.post(
        "/console/login",
        data={"name": name, "password": password, "login_token": token.group(1)},
    )


async def csrf_token(client: httpx.AsyncClient) -> str:
    page = await client.get("/console")
    found = CSRF_META.search(page.text)
    assert found, page.text
    return found.group(1)


@asynccontextmanager
async def console_client(api: Api, role: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client, logged in as `<role>-user` unless role is None."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as client:
        if role is not None:
            response = await log_in(client, f"{role}-user")
            assert response.status_code == 303, response.text
        yield client
