"""`nextup report`: the daily summary from the command line, as a table and as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.processes import run_nextup as run


def test_report_prints_each_queues_day(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    assert run(tmp_path, "demo").returncode == 0  # PHARM and LAB, five patients waiting now
    today = datetime.now(UTC).date()
    visits = 0
    for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
        done = run(tmp_path, "report", "--day", day.isoformat(), "--json")
        assert done.returncode == 0, done.stderr
        summaries = json.loads(done.stdout)
        assert sorted(s["code"] for s in summaries) == ["LAB", "PHARM"]
        assert all(s["day"] == day.isoformat() for s in summaries)
        visits += sum(s["visits"] for s in summaries)
    assert visits == 5  # each visit on its queue's one local day

    one = run(tmp_path, "report", "--day", today.isoformat(), "--queue", "pharm")
    assert one.returncode == 0, one.stderr
    lines = one.stdout.splitlines()
    assert lines[0] == f"{today.isoformat()} (each queue's local day)"
    assert lines[1].split()[:3] == ["queue", "visits", "done"]
    assert lines[2].startswith("PHARM") and len(lines) == 3


def test_report_refuses_a_bad_day_or_queue(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    bad = run(tmp_path, "report", "--day", "02/03/2026")
    assert bad.returncode == 1 and "must look like 2026-03-02" in bad.stderr
    unknown = run(tmp_path, "report", "--day", "2026-03-02", "--queue", "NOPE")
    assert unknown.returncode == 1 and "NOPE" in unknown.stderr
    assert run(tmp_path, "report").returncode == 2  # --day is required
