"""Point 12: production needs a real secret key; the generated `.secret_key` is never readable
by others, not even for a moment; API tokens can expire and be revoked (`nextup token`), and
then they are 401; logs mask phone numbers and patient-page links."""

from __future__ import annotations

import logging
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from core.delivery import Outgoing
from core.delivery.inbox import DevInboxSender
from core.services import accounts
from core.settings import load_settings
from core.storage.models import ApiToken
from tests.api.helpers import create_queue
from tests.conftest import Api, FakeClock
from tests.processes import nextup_output as run
from tests.processes import run_nextup


def test_production_refuses_a_short_secret_key(tmp_path: Path) -> None:
    done = run_nextup(tmp_path, "serve", ENV="production", SECRET_KEY="x")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "NEXTUP_SECRET_KEY" in line and "at least 32" in line
    ok = run_nextup(tmp_path, "migrate", ENV="production", SECRET_KEY="k" * 32)
    assert ok.returncode == 0, ok.stderr


def test_generated_key_file_is_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXTUP_SECRET_KEY", raising=False)
    # With a permissive umask and no chmod afterwards, only a file created 0600 stays 0600.
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    old_umask = os.umask(0)
    try:
        key = load_settings().signing_key()
    finally:
        os.umask(old_umask)
    mode = stat.S_IMODE((tmp_path / ".secret_key").stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert load_settings().signing_key() == key


async def test_expired_and_revoked_tokens_are_401(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM")
    await accounts.create_account("robot", "staff", "correct horse", queues=["*"])
    fresh = await accounts.issue_token("robot", expires_days=30)
    stale = await accounts.issue_token("robot", expires_days=1, now=clock.now - timedelta(days=2))
    revoked = await accounts.issue_token("robot")

    async def status_with(token: str) -> int:
        r = await api.client.get("/api/v1/queues", headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    assert [await status_with(t) for t in (fresh, stale, revoked)] == [200, 401, 200]
    row = await ApiToken.get(token_hash=accounts.token_digest(revoked))
    await accounts.revoke_token(row.id)
    assert await status_with(revoked) == 401
    expired = await api.client.get("/api/v1/queues", headers={"Authorization": f"Bearer {stale}"})
    assert "expired" in expired.json()["error"]["message"]


def test_token_commands(tmp_path: Path) -> None:
    run(tmp_path, "createuser", "admin", "--role", "admin", "--password-stdin", stdin="x" * 12)
    run(tmp_path, "token", "admin", "--expires-days", "7")
    run(tmp_path, "token", "admin")
    listed = run(tmp_path, "token", "list").splitlines()
    assert listed[0].split() == ["ID", "ACCOUNT", "CREATED", "EXPIRES", "LAST", "USED", "STATE"]
    assert [line.split()[-1] for line in listed[1:]] == ["active", "active"]
    # ID, account, created (date time), expires (date time, or -), last used, state
    assert listed[1].split()[4] != "-" and listed[2].split()[4] == "-"
    assert run(tmp_path, "token", "revoke", "1") == "token 1 revoked"
    assert run(tmp_path, "token", "list").splitlines()[1].split()[-1] == "revoked"
    unknown = run_nextup(tmp_path, "token", "revoke", "99")
    assert unknown.returncode == 1 and "no token '99'" in unknown.stderr
    bad = run_nextup(tmp_path, "token", "admin", "--expires-days", "0")
    assert bad.returncode == 1 and "expires-days" in bad.stderr


async def test_logs_mask_phones_and_patient_links(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    phone, token = "+15551234567", "Zq3xSecretTokenValue0123456789ab"
    text = f"You are A-001. Your place in line: https://nextup.example.org/t/{token}"
    with caplog.at_level(logging.INFO, logger="core"):
        await DevInboxSender().send(Outgoing("n1", "sms", phone, "joined", text))
    logged = caplog.text
    assert "dev inbox" in logged
    assert phone not in logged and "4567" not in logged and token not in logged
    assert "/t/Zq3x…" in logged and "A-001" in logged  # still useful to read
