"""The simulator: reproducible, driven by the real engine, and faithful to its profile."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from core.domain import eta, ordering
from core.domain import settle as settle_step
from core.domain.eta import Eta
from sim.cli import add_arguments, run
from sim.day import draw_day
from sim.engine import DaySimulation
from sim.profile import ProfileError, load_profile, parse_profile, steady_profile
from sim.run import Run, policy_config, simulate

CONTRACT_KEYS = {
    "mean_wait_s",
    "p90_wait_s",
    "max_wait_s",
    "served",
    "eta_mae_s",
    "eta_within_10min",
    "eta_range_coverage",
}


def simulate_cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run(parser.parse_args(list(argv)), out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_seeded_run_is_reproducible_bit_for_bit() -> None:
    first = simulate_cli("--profile", "lab", "--days", "2", "--seed", "5", "--json")
    second = simulate_cli("--profile", "lab", "--days", "2", "--seed", "5", "--json")
    assert first == second
    other_seed = simulate_cli("--profile", "lab", "--days", "2", "--seed", "6", "--json")
    assert other_seed[1] != first[1]


def test_json_holds_the_contract_figures_for_every_policy() -> None:
    code, out, _ = simulate_cli(
        "--arrivals-per-hour", "20", "--service-mean-min", "5", "--service-dist", "lognormal",
        "--counters", "2", "--hours", "8", "--policy", "fifo,dynamic", "--seed", "3", "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert set(report["policies"]) == {"fifo", "dynamic"}
    for figures in report["policies"].values():
        assert set(figures) >= CONTRACT_KEYS
        assert figures["served"] > 100
        assert 0 <= figures["eta_within_10min"] <= 1
        assert figures["p90_wait_s"] <= figures["max_wait_s"]


def test_the_table_names_every_policy_and_figure() -> None:
    code, out, _ = simulate_cli("--days", "1", "--seed", "2")
    assert code == 0
    assert "fifo" in out and "dynamic" in out and "short_first" in out
    assert "ETA within ±10 min" in out and "mean wait vs FIFO" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--profile", "nowhere"], "no profile 'nowhere'"),
        (["--arrivals-per-hour", "5"], "needs --arrivals-per-hour, --service-mean-min"),
        (["--policy", "lifo"], "unknown policy 'lifo'"),
        (["--days", "0"], "--days must be 1 or more"),
        (["--profile", "lab", "--counters", "2"], "either --profile or"),
    ],
)
def test_bad_arguments_get_a_clear_error(argv: list[str], message: str) -> None:
    code, out, err = simulate_cli(*argv)
    assert code == 2
    assert message in err
    assert out == ""


def test_the_simulation_calls_the_engine_ordering(monkeypatch: pytest.MonkeyPatch) -> None:
    """One place for the rules: change the engine's ordering and the simulation follows."""
    profile = load_profile("pharmacy")
    config = policy_config("fifo", profile, 1200)
    before = DaySimulation(profile, config, 0, 11, detailed=False).run()
    calls = []

    def last_come_first(tickets, now, config, expected_service_s=None, due_lead_s=0.0):  # type: ignore[no-untyped-def]
        calls.append(now)
        return sorted(tickets, key=lambda t: t.line_at, reverse=True)

    monkeypatch.setattr(ordering, "rank", last_come_first)
    after = DaySimulation(profile, config, 0, 11, detailed=False).run()
    assert calls
    order_before = sorted(before.visits, key=lambda v: v.call_s or 0)
    order_after = sorted(after.visits, key=lambda v: v.call_s or 0)
    assert [v.patient.index for v in order_before] != [v.patient.index for v in order_after]


def test_the_simulation_records_the_engine_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    def fixed(line, at_counters, open_counters, load, passed_by=None, **_):  # type: ignore[no-untyped-def]
        return [Eta(4242, 4000, 4500) for _ in line]

    monkeypatch.setattr(eta, "forecast", fixed)
    profile = load_profile("pharmacy")
    day = DaySimulation(profile, policy_config("fifo", profile, 1200), 0, 11).run()
    assert {v.eta_at_join for v in day.visits} == {Eta(4242, 4000, 4500)}


def test_the_simulation_counts_the_messages_of_the_server_settle_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages are what `settle` (the server's step at commit) makes of each event."""
    profile = load_profile("pharmacy")
    config = policy_config("fifo", profile, 1200)
    told = DaySimulation(profile, config, 0, 11).run()
    assert sum(v.messages for v in told.visits) > len(told.visits)
    assert sum(v.sms_segments for v in told.visits) > 0

    monkeypatch.setattr(settle_step, "intents_for", lambda *_args: [])
    silent = DaySimulation(profile, config, 0, 11).run()
    assert all(v.messages == v.sms_segments == 0 for v in silent.visits)
    assert [v.call_s for v in silent.visits] == [v.call_s for v in told.visits]


def test_patients_counters_and_no_shows_follow_the_profile() -> None:
    profile = load_profile("lab")
    (day,) = simulate(Run(profile, policies=("fifo",), seed=9))["fifo"]
    patients = draw_day(profile, 9 * 1_000_003)
    assert len(day.visits) == len(patients)
    assert all(v.status in ("done", "no_show") for v in day.visits)
    # counter 3 is open 7-11 and 13-15 only: six hours
    assert day.open_s["3"] == pytest.approx(6 * 3600, abs=15 * 60)
    assert all(0 < day.busy_s[c] <= day.open_s[c] + 30 * 60 for c in day.busy_s)
    absent = [v for v in day.visits if v.patient.no_show]
    returned = [v for v in absent if v.patient.returns_after_s is not None]
    assert all(v.status == "no_show" for v in absent if v.patient.returns_after_s is None)
    assert all(v.status == "done" and v.call_s != v.first_call_s for v in returned)


def test_service_times_can_come_from_a_csv_of_real_durations(tmp_path: Path) -> None:
    (tmp_path / "durations.csv").write_text("service_s\n60\n120\n180\n")
    raw = json.loads(Path("sim/profiles/pharmacy.json").read_text())
    raw["services"] = {"visit": {"share": 1, "dist": "csv", "path": "durations.csv"}}
    profile = parse_profile(raw, tmp_path)
    assert profile.mean_service_s == 120
    assert {p.service_s for p in draw_day(profile, 1)} <= {60.0, 120.0, 180.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"services": {"a": {"share": 0.5, "mean_min": 2}}}, "add up to 1"),
        ({"services": {"a": {"share": 1, "dist": "weibull", "mean_min": 2}}}, "dist is"),
        ({"counters": [{"name": "1", "open": [[9, 8]]}]}, "within 0-24"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"arrivals_per_hour": {"25": 3}}, "hours 0-23"),
        ({"channels": {"fax": 1}}, "telegram, sms and none"),
    ],
)
def test_a_bad_profile_says_what_is_wrong(change: dict[str, object], message: str) -> None:
    raw = json.loads(Path("sim/profiles/pharmacy.json").read_text()) | change
    with pytest.raises(ProfileError, match=message):
        parse_profile(raw, Path("."))


def test_a_steady_run_keeps_every_counter_open_and_has_one_kind() -> None:
    profile = steady_profile(30, 4, "lognormal", 3, 5)
    assert profile.counters == ("1", "2", "3")
    assert profile.mean_service_s == 240
    assert (profile.open_h, profile.close_h) == (0, 5)


def test_hourly_rows_are_the_servers_and_add_up_to_the_day() -> None:
    code, out, _ = simulate_cli("--profile", "lab", "--policy", "fifo", "--seed", "4", "--json")
    assert code == 0
    fifo = json.loads(out)["policies"]["fifo"]
    rows = fifo["hourly"]
    assert [r["hour"] for r in rows] == sorted(r["hour"] for r in rows)
    assert rows[0]["hour"] == 7
    assert sum(r["joined"] for r in rows) == fifo["visits"]
    assert sum(r["completed"] for r in rows) == fifo["served"]
    assert sum(r["no_shows"] for r in rows) >= fifo["no_shows"]  # an absent patient may return
    assert max(r["max_wait_s"] for r in rows) <= fifo["max_wait_s"] + 1e-6
    assert max(r["peak_size"] for r in rows) == fifo["line_max"]


def test_a_busier_day_has_more_patients_and_longer_waits() -> None:
    quiet = json.loads(simulate_cli("--policy", "fifo", "--seed", "8", "--json")[1])
    busy = json.loads(
        simulate_cli("--policy", "fifo", "--seed", "8", "--arrival-scale", "1.3", "--json")[1]
    )
    assert busy["profile"]["name"] == "pharmacy x1.3"
    quiet_fifo, busy_fifo = quiet["policies"]["fifo"], busy["policies"]["fifo"]
    assert busy_fifo["visits"] > quiet_fifo["visits"] * 1.15
    assert busy_fifo["mean_wait_s"] > quiet_fifo["mean_wait_s"]
    code, _, err = simulate_cli("--arrival-scale", "0")
    assert code == 2 and "arrival scale must be above 0" in err
