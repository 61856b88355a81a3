"""`make test` as CI runs it, with a stand-in pytest that records how it was called."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RECORDING_PYTEST = """#!/bin/sh
echo "$NEXTUP_TEST_DATABASE_URL|$*" >> "{log}"
# the first half fails: the second must run all the same
test -n "$NEXTUP_TEST_DATABASE_URL"
"""


def make_test(
    tmp_path: Path, target: str = "test"
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pytest-calls"
    pytest_stub = venv / "bin" / "pytest"
    pytest_stub.write_text(RECORDING_PYTEST.format(log=log))
    pytest_stub.chmod(0o755)
    for stamp in (".run-stamp", ".dev-stamp"):  # newer than pyproject.toml: nothing to install
        (venv / stamp).touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env = {k: v for k, v in env.items() if not k.startswith("NEXTUP_")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), target, f"VENV={venv}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, log.read_text().splitlines() if log.exists() else []


def test_both_halves_run_and_a_failed_one_fails_the_target(tmp_path: Path) -> None:
    done, calls = make_test(tmp_path)
    assert len(calls) == 3, (calls, done.stdout, done.stderr)
    embedded, services, theory = (call.split("|") for call in calls)
    assert embedded[0] == ""  # SQLite and the in-process bus
    # every test but the theory check, which runs last, on its own
    theory_tests = [a for a in theory[1].split() if not a.startswith("-")]
    assert theory_tests == ["tests/sim/test_erlang_c.py"]
    assert [a for a in embedded[1].split() if "ignore" in a or not a.startswith("-")] == [
        "--ignore=tests/sim/test_erlang_c.py"
    ]
    assert services[0] == "postgres://postgres@127.0.0.1:5432/nextup_test"
    assert "--ignore=tests/packaging" in services[1].split()
    assert done.returncode != 0
    assert "a half failed" in done.stdout


def test_make_test_unit_runs_the_fast_tests_alone_without_services(tmp_path: Path) -> None:
    _, calls = make_test(tmp_path, "test-unit")
    assert len(calls) == 1, calls
    database_url, args = calls[0].split("|")
    assert database_url == ""
    paths = args.split()[1:]
    assert {"tests/domain", "tests/unit"} <= set(paths)
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, missing


def test_the_services_half_does_not_run_the_unit_tests_again(tmp_path: Path) -> None:
    _, unit_calls = make_test(tmp_path / "unit", "test-unit")
    _, test_calls = make_test(tmp_path / "test")
    ignored = {a.removeprefix("--ignore=") for a in test_calls[1].split("|")[1].split() if "=" in a}
    assert set(unit_calls[0].split("|")[1].split()[1:]) <= ignored


def test_make_run_installs_the_package_without_the_development_tools() -> None:
    dry = subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "install" in dry and "-e ." in dry and "nextup serve" in dry
    assert "[dev]" not in dry
