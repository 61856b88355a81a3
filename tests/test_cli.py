"""The `nextup` command as a newcomer runs it, in a fresh directory (embedded SQLite)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

NEXTUP = str(Path(sys.executable).with_name("nextup"))


def run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTUP_")}
    return subprocess.run(
        [NEXTUP, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_migrate_createuser_token(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    assert (tmp_path / "nextup.sqlite3").exists()
    created = run(
        tmp_path,
        "createuser",
        "maria",
        "--role",
        "pharmacist",
        "--password-stdin",
        stdin="long enough secret\n",
    )
    assert created.returncode == 0, created.stderr
    assert "created pharmacist maria" in created.stdout
    again = run(
        tmp_path,
        "createuser",
        "maria",
        "--role",
        "staff",
        "--password-stdin",
        stdin="long enough secret\n",
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    token = run(tmp_path, "token", "maria")
    assert token.returncode == 0 and token.stdout.strip().startswith("nxt_")
    assert run(tmp_path, "token", "nobody").returncode == 1


def test_createuser_without_stdin_prints_a_generated_password(tmp_path: Path) -> None:
    created = run(tmp_path, "createuser", "ana", "--role", "admin")
    assert created.returncode == 0, created.stderr
    assert "password: " in created.stdout


def test_bad_setting_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTUP_")}
    env["NEXTUP_PORT"] = "eighty"
    result = subprocess.run(
        [NEXTUP, "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "NEXTUP_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--workers", "2")
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr


def test_demo_then_serve_answers(tmp_path: Path) -> None:
    demo = run(tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    assert "admin account: admin / " in demo.stdout
    token = demo.stdout.split("API token for admin: ")[1].split()[0]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTUP_")}
    server = subprocess.Popen(
        [NEXTUP, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(
                    "server did not start: " + (server.stderr.read() or b"").decode()
                    if server.poll() is not None
                    else "server did not start in 30 s"
                )
            time.sleep(0.2)
        queues = httpx.get(f"{base}/api/v1/queues", headers={"Authorization": f"Bearer {token}"})
        assert [q["code"] for q in queues.json()] == ["LAB", "PHARM"]
        status = httpx.get(
            f"{base}/api/v1/queues/PHARM/status", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert status["size"] == 5
    finally:
        server.terminate()
        server.wait(timeout=15)
