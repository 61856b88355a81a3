"""Point 8: a login with an unknown name does the same password work as one with a real
name, and the login limit counts the client's own address, taken from X-Forwarded-For only
when the connection comes from a proxy in NEXTUP_TRUSTED_PROXIES."""

from __future__ import annotations

import re

import httpx
import pytest
from argon2 import PasswordHasher

from core.services import accounts
from core.settings import SettingsError, load_settings
from core.storage.models import StaffAccount
from tests.conftest import Api

NAMES = ["staff-user", "nobody-at-all", "pharmacist-user"]


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


async def log_in(
    client: httpx.AsyncClient, name: str, password: str, **headers: str
) -> httpx.Response:
    form = await client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token
    return await client.post(
        "/console/login",
        data={"name": name, "password": password, "login_token": token.group(1)},
        headers=headers,
    )


async def test_an_unknown_name_costs_the_same_password_check_as_a_real_one(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await StaffAccount.filter(name="pharmacist-user").update(is_active=False)
    hasher = CountingHasher()
    monkeypatch.setattr(accounts, "_hasher", hasher)
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        for name in NAMES:  # a real name, an unknown one, a deactivated one
            before = hasher.verified
            response = await log_in(client, name, "wrong password")
            assert response.status_code == 401
            assert "Wrong name or password." in response.text
            assert hasher.verified == before + 1, name


def forwarded_for(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def fail_five_times(client: httpx.AsyncClient, address: str) -> None:
    for i in range(5):  # five names: only the address's count reaches the limit
        response = await log_in(client, f"guess-{i}", "wrong", **forwarded_for(address))
        assert response.status_code == 401


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.app.ctx.container.settings, "trusted_proxies", "10.9.9.9, 127.0.0.0/8")
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        await fail_five_times(client, "203.0.113.7")
        locked = await log_in(client, "staff-user", "correct horse", **forwarded_for("203.0.113.7"))
        assert locked.status_code == 429
        # A client cannot hide behind an address it writes itself: the proxy appends the real one.
        spoofed = forwarded_for("198.51.100.1, 203.0.113.7")
        assert (await log_in(client, "staff-user", "correct horse", **spoofed)).status_code == 429
        other = await log_in(client, "staff-user", "correct horse", **forwarded_for("203.0.113.8"))
        assert other.status_code == 303


async def test_x_forwarded_for_from_anyone_else_is_ignored(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        await fail_five_times(client, "203.0.113.7")
        # Claiming another address does not escape the limit of the one connecting.
        escaped = await log_in(client, "staff-user", "correct horse", **forwarded_for("192.0.2.1"))
        assert escaped.status_code == 429


@pytest.mark.parametrize("value", ["10.0.0.300", "proxy.example.org", "10.0.0.0/33"])
def test_a_bad_trusted_proxies_setting_names_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="NEXTUP_TRUSTED_PROXIES"):
        load_settings(trusted_proxies=value)


def test_trusted_proxies_take_addresses_and_ranges() -> None:
    settings = load_settings(trusted_proxies="10.0.0.5, 172.16.0.0/12,::1")
    assert [str(n) for n in settings.trusted_proxy_networks] == [
        "10.0.0.5/32",
        "172.16.0.0/12",
        "::1/128",
    ]
