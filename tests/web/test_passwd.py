"""A new password (`nextup passwd`) ends the account's console sessions, and the old
password no longer logs in."""

from __future__ import annotations

import httpx
import pytest

from core.domain.errors import InvalidValue
from core.services import accounts
from core.storage.errors import NotFound
from tests.conftest import Api
from tests.web.sessions import PASSWORD, console_client, log_in


async def test_a_new_password_ends_sessions_and_replaces_the_old_one(api: Api) -> None:
    async with console_client(api, "staff") as client:
        assert (await client.get("/console")).status_code == 200
        await accounts.set_password("staff-user", "a brand new secret")
        assert (await client.get("/console")).status_code == 302
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as client:
        assert (await log_in(client, "staff-user", PASSWORD)).status_code == 401
        assert (await log_in(client, "staff-user", "a brand new secret")).status_code == 303


async def test_a_new_password_needs_an_account_and_eight_characters(api: Api) -> None:
    with pytest.raises(NotFound):
        await accounts.set_password("nobody", "long enough secret")
    with pytest.raises(InvalidValue):
        await accounts.set_password("staff-user", "short")
