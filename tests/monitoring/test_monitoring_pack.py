"""The monitoring pack in deploy/: promtool checks and unit-tests the alerting rules, the
dashboard's queries parse, and every NextUp metric the rules and the dashboard read is one
a running app exports."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.tasks import cancel_and_wait
from nextup.wiring import Container
from tests.api.helpers import create_queue, join
from tests.conftest import Api
from tests.services.test_timer import eventually

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "nextup.json"
NOT_NEXTUPS = {"up", "probe_success"}
"""Series the rules read that Prometheus (`up`) and the blackbox exporter make."""
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def promtool(*args: str | Path, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:  # `make test` installs it: a missing one is a broken set-up, not a skip
        pytest.fail("promtool is missing: `make promtool` (Debian's prometheus package)")
    return subprocess.run(
        [tool, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def rule_expressions() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def metric_names(expression: str) -> set[str]:
    """The series an expression reads: NextUp's by their prefix, the others by a selector
    with labels (`up{job="nextup"}`); the label values themselves are left out first."""
    bare = re.sub(r'"[^"]*"', '""', expression)
    return set(re.findall(r"\bnextup_[a-z0-9_]+", bare)) | {
        name for name in re.findall(r"\b([a-z_][a-z0-9_]*)\{", bare) if name in NOT_NEXTUPS
    }


def family(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_expressions())} rules found" in result.stdout


def test_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", ALERTS_TEST)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_unit_tests_that_fire_and_do_not() -> None:
    cases: dict[str, list[bool]] = {}
    for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(bool(case["exp_alerts"]))
    for alert in rule_expressions():
        assert {True, False} <= set(cases.get(alert, [])), f"{alert}: {cases.get(alert)}"


def test_the_scrape_configuration_is_valid() -> None:
    result = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_queries_parse(tmp_path: Path) -> None:
    """promtool parses PromQL only in rules: each query becomes a recording rule."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel_{i}", "expr": expr}
                    for i, expr in enumerate(dashboard_expressions())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", path, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metric_names_are_found_in_expressions() -> None:
    assert metric_names(
        'sum(rate(nextup_http_requests_total{status=~"5.."}[5m])) / up{job="nextup_x"}'
    ) == {"nextup_http_requests_total", "up"}
    assert family("nextup_http_request_seconds_bucket") == "nextup_http_request_seconds"


async def exported_families(api: Api) -> set[str]:
    """The families with at least one sample (a labelled family nothing has counted yet
    has its `# TYPE` line and no sample: not exported in any sense a rule can read)."""
    response = await api.call("GET", "/metrics", role=None)
    assert response.status_code == 200
    samples = re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", response.text, re.MULTILINE)
    return {family(name) for name in samples}


async def test_every_metric_used_is_exported(api: Api, container: Container) -> None:
    """A running app with a dispatcher, after a request and a notification: every family
    the rules and the dashboard name is in its /metrics."""
    used: dict[str, Any] = {}
    for source, expressions in (
        ("alerts.yml", list(rule_expressions().values())),
        ("nextup.json", dashboard_expressions()),
    ):
        for expression in expressions:
            for name in metric_names(expression) - NOT_NEXTUPS:
                used.setdefault(family(name), source)
    assert len(used) >= 8, used

    await create_queue(api, "PHARM")
    await join(api, "PHARM", telegram_chat_id=4242)  # the dev inbox takes it
    sent = {"nextup_notifications_total", "nextup_notification_delay_seconds"}
    families: set[str] = set()

    async def notification_counted() -> bool:
        nonlocal families
        families = await exported_families(api)
        return sent <= families

    task = asyncio.create_task(container.notification_dispatcher().run())
    try:
        await eventually(notification_counted)
    finally:
        await cancel_and_wait([task])
    missing = {name: source for name, source in used.items() if name not in families}
    assert not missing, f"used but not exported: {missing}"
