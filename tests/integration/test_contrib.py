"""The Grafana dashboard and the Prometheus alert rules in contrib/: promtool checks the rules
and runs their unit tests, and parses every query of the dashboard; the dashboard is one
Grafana can import. (That every metric and label they name exists in the daemon's real
/metrics: tests/e2e/test_contrib_metrics.py.)

A machine without promtool fails these tests with how to install it; it never skips them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.promql import PREFIX, references

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "contrib" / "grafana" / "speechkit-orchestrator.json"
ALERTS = REPO / "contrib" / "prometheus" / "alerts.yml"
ALERT_TESTS = REPO / "contrib" / "prometheus" / "alerts.test.yml"
# The alerts the operators' guide explains, one each.
EXPECTED_ALERTS = {
    "SpeechkitOrchestratorDown",
    "SpeechkitOrchestratorUnhealthy",
    "SpeechkitOrchestratorCredentialsFailing",
    "SpeechkitOrchestratorStorageUnavailable",
    "SpeechkitOrchestratorThrottled",
    "SpeechkitOrchestratorQuotaPaused",
    "SpeechkitOrchestratorAudioQuotaSpent",
    "SpeechkitOrchestratorJobsFailing",
    "SpeechkitOrchestratorOperationsExpired",
    "SpeechkitOrchestratorBacklogNotMoving",
}
# Grafana's variables, as a query would see them once Grafana has put in their values.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool; AssertionError with its output when it fails."""
    binary = shutil.which("promtool")
    assert binary, (
        "promtool is not installed; install it (Debian: apt-get install prometheus) "
        "to check the alert rules"
    )
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def dashboard() -> dict[str, Any]:
    """The dashboard's JSON."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text("utf-8"))
    return loaded


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard, its variables' included."""
    found = [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append((f"variable {variable['name']}", query["query"]))
    return found


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of alerts.yml."""
    document = yaml.safe_load(ALERTS.read_text("utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_checks_the_alert_rules() -> None:
    out = promtool("check", "rules", str(ALERTS))
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in out.stdout


def test_the_alert_rules_unit_tests_pass() -> None:
    out = promtool("test", "rules", str(ALERT_TESTS))
    assert "SUCCESS" in out.stdout


def test_the_alerts_are_the_documented_ones_each_with_a_severity_and_words() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
    operations = (REPO / "docs" / "operations.md").read_text("utf-8")
    for name in EXPECTED_ALERTS:
        assert f"`{name}`" in operations, f"{name} is not explained in docs/operations.md"


def test_every_dashboard_query_is_promql(tmp_path: Path) -> None:
    # promtool parses queries in rule files: each query becomes a recording rule.
    rules = []
    for index, (title, query) in enumerate(dashboard_queries()):
        if query.startswith("label_values("):
            continue  # Grafana's own function, not PromQL
        expr = query
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{title}: an unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    out = promtool("check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout


def test_the_dashboard_is_one_grafana_imports() -> None:
    board = dashboard()
    assert board["uid"] == "speechkit-orchestrator"
    assert isinstance(board["schemaVersion"], int)
    panels = board["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    # Every query goes to the data source the operator picks when importing.
    names = {variable["name"] for variable in board["templating"]["list"]}
    assert {"datasource", "instance"} <= names
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            # Every query keeps to the daemons picked at the top of the dashboard.
            for metric in references(target["expr"]).metrics:
                pattern = rf"(?<![\w:]){metric}(?![\w:])(\{{[^}}]*\}})?"
                for braces in re.findall(pattern, target["expr"]):
                    assert 'instance=~"$instance"' in braces, (panel["title"], metric)
    # What the issue asks the dashboard to show.
    wanted = {
        "jobs": "jobs by state",
        "jobs_done_total": "throughput",
        "quota_used": "quota used",
        "quota_left": "quota left",
        "throttled_total": "429s",
        "status_check_lag_seconds_bucket": "status-check lag quantiles",
        "polls_per_job_sum": "polls per job",
        "jobs_failed_total": "failures by reason",
        "uploaded_bytes_total": "upload bytes",
    }
    named = set().union(*(references(expr).metrics for _, expr in dashboard_queries()))
    for metric, what in wanted.items():
        assert PREFIX + metric in named, f"the dashboard shows no {what}"
