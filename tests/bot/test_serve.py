"""`nextup serve` with Telegram, as a separate process: webhook mode (setWebhook, the secret,
updates pushed to /hooks/telegram) and polling mode; `link-code`, `worker` and `bot` too."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for_health
from tests.emulators.telegram import TelegramEmulator
from tests.processes import NEXTUP, clean_env, free_port, start_server, stop
from tests.processes import nextup_output as run

SECRET = "s3cret-token"


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


async def serve(
    tmp_path: Path, tg: TelegramEmulator, **settings: str
) -> tuple[str, str, subprocess.Popen[bytes]]:
    """A server with a PHARM queue; returns its URL, an admin token and the process."""
    run(tmp_path, "createuser", "admin", "--role", "admin", "--password-stdin", stdin="x" * 12)
    token = run(tmp_path, "token", "admin")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(
        tmp_path,
        port,
        TELEGRAM_TOKEN=tg.token,
        TELEGRAM_API_BASE=tg.base_url,
        PUBLIC_URL=base,
        **settings,
    )
    await wait_for_health(base)
    async with httpx.AsyncClient(base_url=base) as client:
        created = await client.post(
            "/api/v1/queues",
            json={"code": "PHARM", "name": "Pharmacy", "prefix": "A"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
    return base, token, server


STARTING_S = 120
"""The first answer from a process just started (bot polling, worker) waits for its imports:
on a machine whose CPUs are busy that has taken over 15 s. The wait ends with the message."""


async def test_webhook_mode(tmp_path: Path, tg: TelegramEmulator) -> None:
    base, _, server = await serve(
        tmp_path, tg, TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_SECRET=SECRET
    )
    try:
        assert (tg.webhook_url, tg.webhook_secret) == (f"{base}/hooks/telegram", SECRET)
        await tg.user_message(501, "/join PHARM")
        assert tg.webhook_responses == [200]
        await tg.wait_for_message(501, "A-001", timeout_s=10)

        code = run(tmp_path, "link-code", "admin")
        await tg.user_message(502, f"/link {code}")
        await tg.wait_for_message(502, "linked to admin")
        await tg.user_message(502, "/next PHARM 1")
        await tg.wait_for_message(502, "Called A-001")
        await tg.wait_for_message(501, "counter 1")

        async with httpx.AsyncClient(base_url=base) as client:
            update = {"update_id": 99, "message": {"message_id": 1}}
            forged = await client.post(
                "/hooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "no"}
            )
            assert forged.status_code == 403
            missing = await client.post("/hooks/telegram", json=update)
            assert missing.status_code == 403
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            broken = await client.post("/hooks/telegram", content=b"{not json", headers=headers)
            assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_json")
            odd = await client.post("/hooks/telegram", json={"update_id": "x"}, headers=headers)
            assert odd.status_code == 400
    finally:
        stop(server)
    log = next(tmp_path.glob("server-*.log")).read_text()
    assert "Traceback" not in log, log


async def test_polling_mode_inside_serve(tmp_path: Path, tg: TelegramEmulator) -> None:
    _, _, server = await serve(tmp_path, tg)
    try:
        await tg.user_message(601, "/start q_PHARM")
        await tg.wait_for_message(601, "A-001", timeout_s=STARTING_S)
    finally:
        stop(server)


async def test_worker_and_bot_commands_run_alone(tmp_path: Path, tg: TelegramEmulator) -> None:
    settings = clean_env(TELEGRAM_TOKEN=tg.token, TELEGRAM_API_BASE=tg.base_url)
    run(tmp_path, "demo")  # queues PHARM and LAB
    bot = subprocess.Popen([NEXTUP, "bot"], cwd=tmp_path, env=settings)
    worker = subprocess.Popen([NEXTUP, "worker"], cwd=tmp_path, env=settings)
    try:
        await tg.user_message(701, "/help")  # answered by the bot
        await tg.wait_for_message(701, "/join", timeout_s=STARTING_S)
        await tg.user_message(701, "/join LAB")  # the bot joins; the worker sends "joined"
        await tg.wait_for_message(701, "L-001", timeout_s=STARTING_S)
    finally:
        for process in (bot, worker):
            process.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=30) for p in (bot, worker)] == [0, 0]
    await asyncio.sleep(0)


def test_bot_needs_a_token_and_polling(tmp_path: Path) -> None:
    def bot(**settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NEXTUP, "bot"],
            cwd=tmp_path,
            env=clean_env(**settings),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    no_token = bot()
    assert no_token.returncode == 2 and "NEXTUP_TELEGRAM_TOKEN" in no_token.stderr
    webhook = bot(TELEGRAM_TOKEN="1:x", TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_SECRET="s")
    assert webhook.returncode == 2 and "/hooks/telegram" in webhook.stderr


def test_link_code_for_an_unknown_account(tmp_path: Path) -> None:
    done = subprocess.run(
        [NEXTUP, "link-code", "nobody"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1 and "nobody" in done.stderr
