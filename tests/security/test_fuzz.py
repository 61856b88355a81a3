"""The API fuzzed from its own /openapi.json with schemathesis: every operation, path
parameters included, as an admin; no response may be a 500, and every response must match
the schema the document gives it. Derandomized and bounded, so a run is the same each time
and takes well under two minutes.

Embedded run only (SQLite, in-process bus): `make test-services` passes
`--ignore=tests/security/test_fuzz.py`, as it does tests/domain."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Api, on_postgres

pytestmark = pytest.mark.usefixtures("pharmacy")
MAX_EXAMPLES = int(os.environ.get("NEXTUP_FUZZ_EXAMPLES", "25"))
"""Per operation and phase: about 20 s for the 15 operations on a 2-CPU machine. Set
NEXTUP_FUZZ_EXAMPLES higher for a deeper run by hand."""
TIME_LIMIT_S = 110


async def test_no_operation_answers_500_or_off_its_schema(api: Api, tmp_path: Path) -> None:
    if on_postgres():
        pytest.skip("fuzzed on the embedded run only (make test-services ignores this file)")
    cli = Path(sys.executable).with_name("schemathesis")
    command = [
        str(cli),
        "run",
        f"{api.base_url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--header",
        f"Authorization: Bearer {api.tokens['admin']}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    env = os.environ | {"SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"}
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TIME_LIMIT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    report = output.decode(errors="replace")
    print(f"schemathesis took {time.monotonic() - started:.1f} s\n{report[-3000:]}")
    assert process.returncode == 0, report[-20000:]
    assert "No operations" not in report
