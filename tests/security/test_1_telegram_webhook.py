"""Point 1: webhook mode never runs without a secret, and a forged update (no secret, a wrong
one, one with non-ASCII bytes) from a linked staff chat calls nobody."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.bot.test_serve import serve
from tests.emulators.telegram import TelegramEmulator
from tests.processes import nextup_output as run
from tests.processes import run_nextup, stop

SECRET = "a-webhook-secret-of-some-length"
STAFF_CHAT, PATIENT_CHAT = 502, 501


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


@pytest.mark.parametrize(
    "command", [["serve"], ["migrate"], ["createuser", "x", "--role", "admin"]]
)
def test_every_command_refuses_webhook_mode_without_a_secret(
    tmp_path: Path, command: list[str]
) -> None:
    done = run_nextup(tmp_path, *command, TELEGRAM_TOKEN="1:x", TELEGRAM_MODE="webhook")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "NEXTUP_TELEGRAM_WEBHOOK_SECRET" in line and "Traceback" not in line


async def test_forged_updates_call_nobody(tmp_path: Path, tg: TelegramEmulator) -> None:
    base, token, server = await serve(
        tmp_path, tg, TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_SECRET=SECRET
    )
    try:
        await tg.user_message(PATIENT_CHAT, "/join PHARM")  # the real update, with the secret
        await tg.wait_for_message(PATIENT_CHAT, "A-001", timeout_s=10)
        code = run(tmp_path, "link-code", "admin")
        await tg.user_message(STAFF_CHAT, f"/link {code}")
        await tg.wait_for_message(STAFF_CHAT, "linked to admin")

        # What an attacker would post: the staff chat's `/next`, as Telegram would send it.
        update = {
            "update_id": 10_000,
            "message": {
                "message_id": 99,
                "date": 1_700_000_000,
                "chat": {"id": STAFF_CHAT, "type": "private", "first_name": "Pat"},
                "from": {"id": STAFF_CHAT, "is_bot": False, "first_name": "Pat"},
                "text": "/next PHARM 1",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        body = json.dumps(update).encode()
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            headers: dict[str, str | bytes]
            for headers in (
                {},
                {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
                {"X-Telegram-Bot-Api-Secret-Token": "s\xe9cret".encode()},  # non-ASCII bytes
            ):
                response = await client.post(
                    "/hooks/telegram",
                    content=body,
                    headers={"content-type": "application/json", **headers},
                )
                assert response.status_code == 403, (headers, response.text)
            status = await client.get(
                "/api/v1/queues/PHARM/status", headers={"Authorization": f"Bearer {token}"}
            )
            assert [t["number"] for t in status.json()["waiting"]] == ["A-001"]  # not called
    finally:
        stop(server)
    log = next(tmp_path.glob("server-*.log")).read_text()
    assert "Traceback" not in log, log
