"""Roles by setting, as separate processes against the Telegram emulator: a `serve` with
`web` alone neither dispatches nor polls, one without `web` does both; one poller per bot
(a second is refused with a message, and takes over when the first is killed); and log
lines carry time, level, logger and process in every process shape, INFO kept."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import redis_url, services_required, wait_for_health
from tests.emulators.telegram import TelegramEmulator
from tests.processes import NEXTUP, clean_env, free_port, start_server, stop
from tests.processes import nextup_output as run

STARTING_S = 120
"""A process just started waits for its imports: on a busy machine over 15 s."""
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(?P<logger>[\w.]+) \[(?P<process>[^\]]+) (?P<pid>\d+)\] "
)
PRINTED = ("NextUp on ", "NextUp running: ")
"""What the commands print for a person at the terminal, besides their log lines."""


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            stop(process)


def spawn(
    cwd: Path, log_name: str, *args: str, **settings: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """A session of its own: Sanic's manager kills its whole process group when a worker
    does not start within 30 s (a busy machine), and that must not be this test run."""
    log = cwd / f"{log_name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [NEXTUP, *args],
            cwd=cwd,
            env=clean_env(**settings),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    return process, log


def log_lines(path: Path) -> list[re.Match[str]]:
    """Every record a process logged, each line at the margin a well-formed one (the further
    lines of a record are indented), besides the known prints."""
    lines = [
        line
        for line in path.read_text().splitlines()
        if not line.startswith(PRINTED) and not line.startswith("  ")
    ]
    matches = [LOG_LINE.match(line) for line in lines]
    bad = [line for line, m in zip(lines, matches, strict=True) if m is None]
    assert not bad, f"lines without time, level, logger and process: {bad}"
    return [m for m in matches if m is not None]


async def until(condition: Any, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await condition():
        assert loop.time() < deadline, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(0.3)


def admin_token(cwd: Path, **settings: str) -> str:
    run(
        cwd,
        "createuser",
        "admin",
        "--role",
        "admin",
        "--password-stdin",
        stdin="x" * 12,
        **settings,
    )
    return run(cwd, "token", "admin", **settings)


async def test_web_alone_neither_dispatches_nor_polls(
    tmp_path: Path, tg: TelegramEmulator, processes: list[subprocess.Popen[bytes]]
) -> None:
    telegram = {"telegram_token": tg.token, "telegram_api_base": tg.base_url}
    token = admin_token(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_server(tmp_path, port, ROLES="web", PUBLIC_URL=base, **telegram)
    processes.append(web)
    await wait_for_health(base)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        created = await client.post(
            "/api/v1/queues", json={"code": "PHARM", "name": "Pharmacy", "prefix": "A"}
        )
        assert created.status_code == 201, created.text
        joined = await client.post("/api/v1/queues/PHARM/tickets", json={"phone": "+34600111222"})
        assert joined.status_code == 201, joined.text
        ticket = joined.json()["id"]
        await tg.user_message(801, "/help")

        async def statuses() -> list[str]:
            record = (await client.get(f"/api/v1/tickets/{ticket}")).json()
            return [n["status"] for n in record["notifications"]]

        await asyncio.sleep(4)  # a dispatcher polls the outbox every second
        assert await statuses() == ["queued"]
        assert [r for r in tg.requests if r.method.lower() == "getupdates"] == []
        assert tg.messages_to(801) == []

        # The other roles, in a process without HTTP: it sends and it polls.
        other, other_log = spawn(
            tmp_path, "others", "serve", "--roles", "dispatcher,bot", **telegram
        )
        processes.append(other)
        await tg.wait_for_message(801, "/join", timeout_s=STARTING_S)

        async def sent() -> bool:
            return await statuses() == ["sent"]

        await until(sent, 30, "the joined text sent by the other process")
    stop(other)
    stop(web)
    assert other.returncode == 0
    lines = log_lines(other_log)
    assert any(
        m["logger"] == "nextup.serve"
        and m["process"] == "nextup-serve"
        and m.string.endswith("running with roles dispatcher,bot")
        for m in lines
    ), other_log.read_text()
    assert any(m["level"] == "INFO" and m["logger"] == "core.delivery.inbox" for m in lines)
    web_lines = log_lines(tmp_path / f"server-{port}.log")
    assert any(m.string.endswith("serving with roles web") for m in web_lines)


async def test_a_second_poller_is_refused_and_takes_over(
    tmp_path: Path, tg: TelegramEmulator, processes: list[subprocess.Popen[bytes]]
) -> None:
    """On the embedded run the lock is a file beside SQLite; on the services run a Redis key
    (its TTL shortened so the takeover comes within seconds)."""
    settings = {"telegram_token": tg.token, "telegram_api_base": tg.base_url}
    if redis_url() is not None:
        settings |= {"redis_url": str(redis_url()), "bot_lock_ttl_s": "3"}
    run(tmp_path, "migrate", **settings)
    first, _ = spawn(tmp_path, "first", "bot", **settings)
    processes.append(first)
    await tg.user_message(901, "/help")
    await tg.wait_for_message(901, "/join", timeout_s=STARTING_S)

    second, second_log = spawn(tmp_path, "second", "bot", **settings)
    processes.append(second)

    async def refused() -> bool:
        return "already polled by" in second_log.read_text()

    await until(refused, STARTING_S, "the second poller's refusal")
    [refusal] = [m for m in log_lines(second_log) if "already polled by" in m.string]
    assert refusal["level"] == "WARNING"
    assert f"nextup-bot (pid {first.pid} on " in refusal.string
    assert "takes over if that one stops" in refusal.string
    assert "NEXTUP_ROLES" in refusal.string
    await tg.user_message(902, "/help")
    await tg.wait_for_message(902, "/join", timeout_s=10)
    assert [r for r in tg.requests if r.outcome == "conflict"] == []  # never two getUpdates

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    await tg.user_message(903, "/help")
    await tg.wait_for_message(903, "/join", timeout_s=30)  # answered by the second
    assert "poller lock taken" in second_log.read_text()
    stop(second)
    assert second.returncode == 0


async def test_log_lines_of_serve_with_workers_and_of_a_worker(
    tmp_path: Path, migrated: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    services_required()
    settings = {"database_url": migrated, "redis_url": str(redis_url())}
    token = admin_token(tmp_path, **settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web, web_log = spawn(
        tmp_path,
        "web",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--roles",
        "web",
        **settings,
    )
    processes.append(web)
    worker, worker_log = spawn(tmp_path, "worker", "worker", **settings)
    processes.append(worker)
    await wait_for_health(base)

    async def both_workers_up() -> bool:
        # Stopped while a worker is still starting, Sanic's manager waits forever.
        return web_log.read_text().count("Worker ready") == 2

    await until(both_workers_up, STARTING_S, "both Sanic workers")
    code = f"L{port}"[-6:]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        created = await client.post(
            "/api/v1/queues", json={"code": code, "name": "Logs", "prefix": "L"}
        )
        assert created.status_code == 201, created.text
        joined = await client.post(f"/api/v1/queues/{code}/tickets", json={"phone": "+34600111333"})
        assert joined.status_code == 201, joined.text

    async def delivered() -> bool:
        return "dev inbox: sms to" in worker_log.read_text()

    await until(delivered, STARTING_S, "the worker's dev inbox line")
    stop(web)
    stop(worker)

    web_lines = log_lines(web_log)
    workers = {m["pid"] for m in web_lines if m.string.endswith("serving with roles web")}
    assert len(workers) == 2, web_log.read_text()  # each Sanic worker logs at INFO
    assert all(m["level"] == "INFO" for m in web_lines if m["pid"] in workers)
    assert {m["process"] for m in web_lines if m["pid"] in workers} == {
        "Sanic-Server-0-0",
        "Sanic-Server-1-0",
    }
    worker_lines = log_lines(worker_log)
    assert {m["process"] for m in worker_lines} == {"nextup-worker"}
    assert any(m["level"] == "INFO" and m["logger"] == "core.delivery.inbox" for m in worker_lines)
    assert "+34600111333" not in worker_log.read_text()  # masked in the log
