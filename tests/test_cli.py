"""The `nextup` command as a newcomer runs it, in a fresh directory (embedded SQLite)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for_health
from tests.processes import NEXTUP, clean_env, free_port, start_server, stop
from tests.processes import run_nextup as run


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


def test_passwd_sets_a_new_password(tmp_path: Path) -> None:
    secret = "long enough secret\n"
    run(tmp_path, "createuser", "maria", "--role", "staff", "--password-stdin", stdin=secret)
    typed = run(tmp_path, "passwd", "maria", "--password-stdin", stdin="another good one\n")
    assert typed.returncode == 0, typed.stderr
    assert "new password for maria" in typed.stdout and "password: " not in typed.stdout
    generated = run(tmp_path, "passwd", "maria")  # stdin is not a terminal: one is made up
    assert generated.returncode == 0, generated.stderr
    assert len(generated.stdout.split("password: ")[1].strip()) >= 16
    short = run(tmp_path, "passwd", "maria", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    nobody = run(tmp_path, "passwd", "nobody", "--password-stdin", stdin=secret)
    assert nobody.returncode == 1 and "no account 'nobody'" in nobody.stderr


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, "serve", "--port", str(port))
    assert result.returncode == 1
    assert f"nextup: port {port} is in use: set NEXTUP_PORT (or --port)" in result.stderr
    assert "cannot reach a service" not in result.stderr


def test_bad_setting_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [NEXTUP, "migrate"],
        cwd=tmp_path,
        env=clean_env(port="eighty"),
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


def test_unknown_roles_are_refused(tmp_path: Path) -> None:
    flag = run(tmp_path, "serve", "--roles", "web,poller")
    assert flag.returncode == 2
    assert "--roles: unknown role poller: use one or more of web,dispatcher,bot" in flag.stderr
    setting = run(tmp_path, "worker", roles="sender")
    assert setting.returncode == 2 and "NEXTUP_ROLES: unknown role sender" in setting.stderr
    assert "Traceback" not in flag.stderr + setting.stderr


async def test_demo_then_serve_answers(tmp_path: Path) -> None:
    demo = run(tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    assert "admin account: admin / " in demo.stdout
    token = demo.stdout.split("API token for admin: ")[1].split()[0]
    again = run(tmp_path, "demo")
    assert again.returncode == 0, again.stderr
    assert "`nextup passwd admin` sets a new password" in again.stdout
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_for_health(base)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            queues = (await client.get("/api/v1/queues")).json()
            assert [q["code"] for q in queues] == ["LAB", "PHARM"]
            assert [(q["name"], q["public_name"]) for q in queues] == [
                ("Blood tests", "Lab"),
                ("Pharmacy", "Pharmacy"),
            ]
            kinds = {q["code"]: q["service_times_s"] for q in queues}
            assert kinds == {"LAB": {}, "PHARM": {"pickup": 120, "consultation": 600}}
            status = (await client.get("/api/v1/queues/PHARM/status")).json()
            assert status["size"] == 5
            assert {w["service"] for w in status["waiting"]} == {"pickup", "consultation", None}
    finally:
        stop(server)


IMPORTED_BY_MAIN = """
import sys
from nextup.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["simulate", "--help"], ["migrate"], ["passwd", "nobody", "--password-stdin"]],
    ids=" ".join,
)
def test_small_commands_import_no_provider_library(tmp_path: Path, args: list[str]) -> None:
    """aiogram alone took seconds to import: only the commands that talk to Telegram, Twilio
    or draw plots may pay for those libraries."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY_MAIN, *args],
        cwd=tmp_path,
        env=clean_env(),
        input="a new password\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    imported = set(done.stdout.splitlines()[-1].split())
    assert "argparse" in imported, done.stderr  # the probe ran to its end
    assert not imported & {"aiogram", "twilio", "matplotlib"}
