"""Real `englog server` and `englog worker` processes on loopback ports."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.procs import Cluster, base_env, cluster, englog_cmd, metric_value, wait_for

pytestmark = pytest.mark.timeout(180)

ENTRIES = [
    {
        "title": "Standup",
        "type": "meeting",
        "project": "core",
        "start_time": "2026-11-16T09:00:00+01:00",
        "end_time": "2026-11-16T09:15:00+01:00",
        "value_rating": "low",
        "impact_level": "team",
    },
    {
        "title": "Queue fencing",
        "type": "development",
        "project": "core",
        "start_time": "2026-11-16T09:30:00+01:00",
        "end_time": "2026-11-16T12:00:00+01:00",
        "value_rating": "high",
        "impact_level": "team",
    },
    {
        "title": "Review PR 42",
        "type": "code_review",
        "project": "api",
        "start_time": "2026-11-16T13:00:00+01:00",
        "end_time": "2026-11-16T13:45:00+01:00",
        "value_rating": "medium",
        "impact_level": "team",
    },
    {
        "title": "Flaky test",
        "type": "debugging",
        "project": "core",
        "start_time": "2026-11-17T10:00:00+01:00",
        "end_time": "2026-11-17T11:20:00+01:00",
        "value_rating": "critical",
        "impact_level": "department",
    },
    {
        "title": "Design sync",
        "type": "meeting",
        "project": "api",
        "start_time": "2026-11-17T14:00:00+01:00",
        "end_time": "2026-11-17T15:00:00+01:00",
        "value_rating": "medium",
        "impact_level": "department",
    },
]
TERMINAL = {"completed", "failed", "cancelled"}


def minutes(entry: dict[str, str]) -> float:
    start = datetime.fromisoformat(entry["start_time"])
    end = datetime.fromisoformat(entry["end_time"])
    return (end - start).total_seconds() / 60


def user_client(c: Cluster, token: str) -> httpx.Client:
    assert c.server is not None
    return httpx.Client(
        base_url=c.server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@contextmanager
def one_worker(tmp_path: Path) -> Iterator[tuple[Cluster, str]]:
    """A server and one connected worker `w1`; the token of user `ada`."""
    with cluster(tmp_path) as c:
        token = c.create_user("ada")
        c.start_server()
        c.start_worker("w1")
        c.wait_workers_connected("w1")
        yield c, token


def wait_terminal(client: httpx.Client, task_id: str, timeout: float = 60) -> dict:
    def done() -> dict | None:
        task = client.get(f"/v1/tasks/{task_id}").json()
        return task if task["status"] in TERMINAL else None

    return wait_for(done, timeout, interval=0.1, what=f"task {task_id} to finish")


def test_insight_facts_match_the_entries(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        token = c.create_user("ada")
        c.start_server()
        c.start_worker("w1")
        with user_client(c, token) as api:
            created = api.post("/v1/entries/bulk", json={"entries": ENTRIES})
            assert created.status_code == 201, created.text
            ids = [e["id"] for e in created.json()["entries"]]
            r = api.post(
                "/v1/tasks/insights", json={"insight_type": "productivity", "entry_ids": ids}
            )
            assert r.status_code == 202, r.text
            task = wait_terminal(api, r.json()["task_id"])
        assert task["status"] == "completed", task
        result = task["result"]
        assert result["backend"] == "builtin"
        assert 0.0 <= result["confidence"] <= 1.0
        facts = result["facts"]
        assert facts["total_minutes"] == pytest.approx(sum(minutes(e) for e in ENTRIES))
        expected: Counter[str] = Counter()
        for e in ENTRIES:
            expected[e["type"]] += minutes(e)
        assert {k: pytest.approx(v) for k, v in expected.items()} == facts["minutes_by_type"]
        assert task["worker_id"] == "w1" and task["attempt"] == 1


def test_weekly_report_end_to_end(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        token = c.create_user("ada")
        c.start_server()
        c.start_worker("w1")
        with user_client(c, token) as api:
            assert api.post("/v1/entries/bulk", json={"entries": ENTRIES}).status_code == 201
            r = api.post(
                "/v1/tasks/reports", json={"week_start": "2026-11-16", "week_end": "2026-11-22"}
            )
            assert r.status_code == 202, r.text
            task = wait_terminal(api, r.json()["task_id"])
        assert task["status"] == "completed", task
        assert task["result"]["entry_count"] == len(ENTRIES)
        assert task["result"]["facts"]["total_minutes"] == pytest.approx(
            sum(minutes(e) for e in ENTRIES)
        )


def test_200_noop_tasks_across_two_workers_each_accepted_once(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        token = c.create_user("ada")
        c.start_server()
        c.start_worker("w1")
        c.start_worker("w2")
        c.wait_workers_connected("w1", "w2")
        with user_client(c, token) as api:
            ids = []
            for i in range(200):
                r = api.post("/v1/tasks", json={"type": "noop", "payload": {"n": i}})
                assert r.status_code == 202, r.text
                ids.append(r.json()["task_id"])

            def all_done() -> list[dict] | None:
                tasks = api.get("/v1/tasks", params={"limit": 1000}).json()["tasks"]
                finished = [t for t in tasks if t["status"] in TERMINAL]
                return tasks if len(finished) == 200 else None

            tasks = wait_for(all_done, 90, interval=0.2, what="200 tasks finished")
            by_id = {t["task_id"]: t for t in tasks}
            assert all(by_id[i]["status"] == "completed" for i in ids)
            assert by_id[ids[7]]["result"] == {"n": 7}
            metrics = api.get("/metrics").text
        workers = Counter(t["worker_id"] for t in tasks)
        assert set(workers) == {"w1", "w2"}, workers
        assert metric_value(metrics, "englog_task_results_total", disposition="accepted") == 200
        assert metric_value(metrics, "englog_task_results_total", disposition="duplicate") == 0


def test_sigkilled_worker_task_completes_elsewhere_after_lease_expiry(tmp_path: Path) -> None:
    with cluster(tmp_path, lease_ttl=2.0, heartbeat=0.5) as c:
        token = c.create_user("ada")
        c.start_server()
        victim = c.start_worker("victim")
        c.wait_workers_connected("victim")
        with user_client(c, token) as api:
            r = api.post("/v1/tasks", json={"type": "sleep", "payload": {"seconds": 2}})
            task_id = r.json()["task_id"]
            wait_for(
                lambda: api.get(f"/v1/tasks/{task_id}").json()["status"] == "running",
                20,
                what="task running on the victim",
            )
            victim.kill()
            c.start_worker("survivor")
            task = wait_terminal(api, task_id, timeout=60)
        assert task["status"] == "completed", task
        assert task["worker_id"] == "survivor"
        assert task["attempt"] == 2
        assert task["result"] == {"slept": 2}


def test_isolation_and_authentication_on_a_real_server(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        ada, bob = c.create_user("ada"), c.create_user("bob")
        c.start_server()
        with user_client(c, ada) as a, user_client(c, bob) as b:
            entry = a.post("/v1/entries", json=ENTRIES[0]).json()
            task = a.post("/v1/tasks", json={"type": "noop", "payload": {}}).json()
            assert b.get(f"/v1/entries/{entry['id']}").status_code == 404
            assert b.get(f"/v1/tasks/{task['task_id']}").status_code == 404
            assert b.post(f"/v1/tasks/{task['task_id']}/cancel").status_code == 404
            assert c.server is not None
            anon = httpx.get(f"{c.server.url}/v1/tasks/{task['task_id']}")
            assert anon.status_code == 401
            assert anon.json()["error"] == "unauthenticated"


def test_long_poll_is_woken_by_the_workers_report(tmp_path: Path) -> None:
    """`GET /v1/tasks/{id}?wait_s=` answers when ReportTaskResult commits the result,
    not when wait_s runs out."""
    with one_worker(tmp_path) as (c, token):
        with user_client(c, token) as api:
            r = api.post("/v1/tasks", json={"type": "sleep", "payload": {"seconds": 0.3}})
            assert r.status_code == 202, r.text
            started = time.monotonic()
            task = api.get(
                f"/v1/tasks/{r.json()['task_id']}", params={"wait_s": 25}, timeout=30
            ).json()
            elapsed = time.monotonic() - started
        assert task["status"] == "completed" and task["result"] == {"slept": 0.3}, task
        assert elapsed < 15, elapsed


def test_submission_with_prefer_wait_answers_with_the_result(tmp_path: Path) -> None:
    """`POST /v1/tasks` with `Prefer: wait=N` answers 200 with the finished task once the
    worker's result commits, within the one request; a task that outlasts the wait
    gets the usual 202 and keeps running."""
    with one_worker(tmp_path) as (c, token):
        with user_client(c, token) as api:
            sleep = {"type": "sleep", "payload": {"seconds": 0.3}}
            r = api.post("/v1/tasks", json=sleep, headers={"Prefer": "wait=25"}, timeout=30)
            assert r.status_code == 200, r.text
            task = r.json()
            assert task["status"] == "completed" and task["result"] == {"slept": 0.3}, task
            assert r.headers["preference-applied"] == "wait=25"
            assert r.headers["location"] == f"/v1/tasks/{task['task_id']}"

            slow = {"type": "sleep", "payload": {"seconds": 2}}
            r = api.post("/v1/tasks", json=slow, headers={"Prefer": "wait=0.2"})
            assert r.status_code == 202 and r.json()["status"] == "running", r.text
            done = wait_terminal(api, r.json()["task_id"])
        assert done["status"] == "completed", done


def test_cli_submit_with_wait_prints_the_finished_task(tmp_path: Path) -> None:
    """`englog tasks submit --wait S` is submit-and-wait from the shell: the finished
    task as JSON (exit 0 when completed), or its id when it outlasts the wait."""
    with one_worker(tmp_path) as (c, token):
        assert c.server is not None
        server = c.server

        def submit(seconds: float, wait: str) -> subprocess.CompletedProcess[str]:
            args = ["tasks", "submit", "sleep", "--payload", json.dumps({"seconds": seconds})]
            args += ["--wait", wait, "--url", server.url, "--token", token]
            return subprocess.run(
                englog_cmd(*args), env=base_env(), capture_output=True, text=True, timeout=60
            )

        done = submit(0.2, "20")
        assert done.returncode == 0, done.stderr
        task = json.loads(done.stdout)
        assert task["status"] == "completed" and task["result"] == {"slept": 0.2}, task

        running = submit(3, "0.2")
        assert running.returncode == 0, running.stderr
        task_id = running.stdout.strip()
        assert len(task_id) == 32 and "Traceback" not in running.stderr
        with user_client(c, token) as api:
            assert wait_terminal(api, task_id)["status"] == "completed"
