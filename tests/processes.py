"""Helpers for tests that run `nextup` as a separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

NEXTUP = str(Path(sys.executable).with_name("nextup"))


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without its NEXTUP_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTUP_")}
    return env | {f"NEXTUP_{k.upper()}": v for k, v in settings.items()}


def run_nextup(
    cwd: Path, *args: str, stdin: str | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`nextup ARGS` in `cwd`, to completion (a minute at most)."""
    return subprocess.run(
        [NEXTUP, *args],
        cwd=cwd,
        env=clean_env(**settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def nextup_output(cwd: Path, *args: str, stdin: str | None = None, **settings: str) -> str:
    """What `nextup ARGS` printed; it must succeed."""
    done = run_nextup(cwd, *args, stdin=stdin, **settings)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(cwd: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """`nextup serve` in `cwd`; what it prints goes to `cwd/server-PORT.log`."""
    with (cwd / f"server-{port}.log").open("wb") as log:
        return subprocess.Popen(
            [NEXTUP, "serve", "--port", str(port)],
            cwd=cwd,
            env=clean_env(**settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(server: subprocess.Popen[bytes]) -> None:
    """Never leave a server behind, even one that ignores SIGTERM."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)
        raise
