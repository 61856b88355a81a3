"""The same days as recorded before the simulator ran the server's settle step
(`record_days.py`): every patient is shown the same position and ETA at join, and called in
the same order, at the same time, to the same counter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.sim.record_days import COLUMNS, DAYS, FIXTURE, replay

RECORDED: dict[str, Any] = json.loads(FIXTURE.read_text())
SHOWN_AT_JOIN = ("position_at_join", "eta_s", "eta_low_s", "eta_high_s", "naive_eta_s")
CALLS = ("first_call_s", "call_s", "counter", "status")


def columns(rows: list[list[Any]], names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """(patient, *names) of every row."""
    at = [COLUMNS.index(name) for name in ("patient", *names)]
    return [tuple(row[i] for i in at) for row in rows]


def call_order(rows: list[list[Any]]) -> list[int]:
    """The patients in the order of the call that led to their visit."""
    called = [row for row in rows if row[COLUMNS.index("call_s")] is not None]
    return [row[0] for row in sorted(called, key=lambda row: row[COLUMNS.index("call_s")])]


def test_the_fixture_was_recorded_with_these_columns() -> None:
    assert tuple(RECORDED["columns"]) == COLUMNS
    assert set(RECORDED) - {"columns"} == set(DAYS)


@pytest.mark.parametrize("name", sorted(DAYS))
def test_a_recorded_day_replays_the_same(name: str) -> None:
    recorded, now = RECORDED[name], replay(DAYS[name])

    assert [row[0] for row in now] == [row[0] for row in recorded], "the same patients"
    assert columns(now, SHOWN_AT_JOIN) == columns(recorded, SHOWN_AT_JOIN)
    assert call_order(now) == call_order(recorded)
    assert columns(now, CALLS) == columns(recorded, CALLS)
