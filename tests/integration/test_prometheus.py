"""Alert rules checked and unit-tested with promtool, and a real Prometheus scraping a
real englog server and worker: the rules load and evaluate without error, a query
reads back what the server did, and every metric an alert or the Grafana dashboard
names is exported, every dashboard query runs (issue 24).

promtool and prometheus come from Debian's `prometheus` package (`make promtool`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.exposition import exported_names, promql_names
from tests.support.procs import REPO, Cluster, cluster, free_port, health_port, wait_for

pytestmark = pytest.mark.timeout(120)
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "englog.json"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not found: `make promtool` installs Debian's prometheus package")
    return found


def test_promtool_checks_the_rules() -> None:
    out = subprocess.run(
        [tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 7 rules found" in out.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    out = subprocess.run(
        [tool("promtool"), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=RULE_TESTS.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def alert_exprs() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r["expr"] for g in groups for r in g["rules"]}


def dashboard_exprs() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]


def test_every_alert_is_tested() -> None:
    tested = {
        t["alertname"]
        for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for t in case["alert_rule_test"]
    }
    assert tested == set(alert_exprs())


def _run_noops(c: Cluster, n: int) -> None:
    with c.admin() as admin:
        for _ in range(n):
            assert admin.post("/v1/tasks", json={"type": "noop", "payload": {}}).status_code == 202

        def all_done() -> bool:
            tasks = admin.get("/v1/tasks", params={"status": "completed", "limit": 100}).json()
            return len(tasks["tasks"]) >= n

        wait_for(all_done, 30, what=f"{n} noop tasks completed")


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _targets(base: str) -> list[tuple[str, str]]:
    data = httpx.get(f"{base}/api/v1/targets", timeout=5).json()["data"]
    return [(t["scrapeUrl"], t.get("lastError", "")) for t in data["activeTargets"]]


@pytest.mark.slow
def test_a_real_prometheus_scrapes_englog_and_evaluates_the_rules(tmp_path: Path) -> None:
    prometheus = tool("prometheus")
    with cluster(tmp_path) as c:
        c.start_server()
        health = health_port(c.start_worker("w1", "--health-listen", "127.0.0.1:0"))
        c.wait_workers_connected("w1")
        _run_noops(c, 5)
        server_metrics = httpx.get(f"{c.server.url}/metrics", timeout=5).text  # type: ignore[union-attr]
        worker_metrics = httpx.get(f"http://127.0.0.1:{health}/metrics", timeout=5).text
        exported = exported_names(server_metrics) | exported_names(worker_metrics)
        for alert, expr in alert_exprs().items():
            assert promql_names(expr) <= exported, (alert, promql_names(expr) - exported)
        for panel, expr in dashboard_exprs():
            assert promql_names(expr), (panel, expr)
            assert promql_names(expr) <= exported, (panel, promql_names(expr) - exported)

        web = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {"job_name": "englog-server",
                         "static_configs": [{"targets": [f"127.0.0.1:{c.http_port}"]}]},
                        {"job_name": "englog-worker",
                         "static_configs": [{"targets": [f"127.0.0.1:{health}"]}]},
                    ],
                }
            )
        )  # fmt: skip
        with (tmp_path / "prometheus.log").open("w") as log:
            proc = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{web}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            base = f"http://127.0.0.1:{web}"

            def ready() -> bool:
                return httpx.get(f"{base}/-/ready", timeout=2).status_code == 200

            wait_for(ready, 30, what="prometheus ready")

            def completed_noops() -> float:
                found = _query(
                    base,
                    'sum(englog_task_results_total{disposition="accepted",'
                    'outcome="completed",type="noop"})',
                )
                return float(found[0]["value"][1]) if found else 0.0

            assert wait_for(lambda: completed_noops() == 5.0, 60, what="the query") is True
            waits = _query(base, 'englog_task_queue_wait_seconds_count{type="noop"}')
            assert float(waits[0]["value"][1]) == 5.0

            def both_up() -> bool:
                up = _query(base, "up")
                return {r["metric"]["job"] for r in up if r["value"][1] == "1"} == {
                    "englog-server",
                    "englog-worker",
                }

            try:
                wait_for(both_up, 20, what="both targets up")
            except TimeoutError as exc:
                raise AssertionError(f"targets: {_targets(base)}") from exc

            def rules_evaluated() -> list[dict[str, Any]] | None:
                data = httpx.get(f"{base}/api/v1/rules", timeout=5).json()["data"]
                rules = [r for g in data["groups"] for r in g["rules"]]
                done = all(r.get("lastEvaluation", "").startswith("20") for r in rules)
                return (
                    rules
                    if rules and done and all(r["health"] != "unknown" for r in rules)
                    else None
                )

            for _panel, expr in dashboard_exprs():  # each parses and runs
                _query(base, expr)
            rate = 'sum by (type) (rate(englog_task_results_total{disposition="accepted"}[1m]))'

            def noop_rate() -> bool:  # two scrapes make a rate
                return any(r["metric"].get("type") == "noop" for r in _query(base, rate))

            wait_for(noop_rate, 20, what="a results rate by type")

            rules = wait_for(rules_evaluated, 30, what="every rule evaluated")
            assert {r["name"] for r in rules} == set(alert_exprs())
            assert all(r["health"] == "ok" for r in rules), rules
            # Nothing is wrong: no alert is pending or firing.
            assert all(r["state"] == "inactive" for r in rules), rules
        finally:
            proc.terminate()
            proc.wait(20)
