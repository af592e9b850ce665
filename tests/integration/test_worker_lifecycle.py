"""Worker behaviour with real processes: blocking handlers, cancellation, SIGTERM and a
server that is killed and restarted under it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.procs import Cluster, cluster, health_port, metric_value, wait_for

pytestmark = pytest.mark.timeout(180)
TERMINAL = {"completed", "failed", "cancelled"}


def task_of(api: httpx.Client, task_id: str) -> dict:
    return api.get(f"/v1/tasks/{task_id}").json()


def submit(api: httpx.Client, type_: str, **payload: object) -> str:
    r = api.post("/v1/tasks", json={"type": type_, "payload": payload})
    assert r.status_code == 202, r.text
    return r.json()["task_id"]


def wait_status(api: httpx.Client, task_id: str, statuses: set[str], timeout: float = 60) -> dict:
    return wait_for(
        lambda: (t := task_of(api, task_id))["status"] in statuses and t,
        timeout,
        interval=0.1,
        what=f"task {task_id} in {statuses}",
    )


def test_blocking_handler_longer_than_the_lease_keeps_it(tmp_path: Path) -> None:
    # A 2 s lease (heartbeats every 0.5 s) that the handler's thread outlasts 2.5 times.
    with cluster(tmp_path, lease_ttl=2.0, heartbeat=0.5) as c:
        c.start_server()
        c.start_worker("w1", concurrency=1)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            task_id = submit(api, "sleep_blocking", seconds=5)
            task = wait_status(api, task_id, TERMINAL)
        assert task["status"] == "completed", task
        assert task["attempt"] == 1  # never requeued: heartbeats ran beside the thread


def test_running_task_is_cancelled_through_the_worker(tmp_path: Path) -> None:
    with cluster(tmp_path, heartbeat=0.25) as c:
        c.start_server()
        c.start_worker("w1")
        c.wait_workers_connected("w1")
        with c.admin() as api:
            task_id = submit(api, "sleep", seconds=60)
            wait_status(api, task_id, {"running"})
            r = api.post(f"/v1/tasks/{task_id}/cancel")
            assert r.status_code == 202, r.text
            task = wait_status(api, task_id, TERMINAL, timeout=20)
        assert task["status"] == "cancelled", task


def test_sigterm_lets_running_tasks_finish_and_exits_zero(tmp_path: Path) -> None:
    with cluster(tmp_path, heartbeat=0.5) as c:
        c.start_server()
        worker = c.start_worker("w1", concurrency=2)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            ids = [submit(api, "sleep", seconds=1.5) for _ in range(2)]
            for task_id in ids:
                wait_status(api, task_id, {"running"})
            assert worker.terminate(timeout=30) == 0, worker.log()[-2000:]
            tasks = [task_of(api, task_id) for task_id in ids]
        assert [t["status"] for t in tasks] == ["completed", "completed"], tasks
        assert all(t["attempt"] == 1 for t in tasks)


def run_through_server_restart(c: Cluster, n: int) -> list[dict]:
    with c.admin() as api:
        ids = [submit(api, "sleep", seconds=0.3) for _ in range(n)]
        wait_for(lambda: sum(task_of(api, i)["status"] == "completed" for i in ids) >= 5, 60)
    assert c.server is not None
    c.server.kill()
    c.start_server()
    with c.admin() as api:
        return [wait_status(api, task_id, TERMINAL, timeout=90) for task_id in ids]


def test_worker_survives_a_server_sigkill_and_restart(tmp_path: Path) -> None:
    with cluster(tmp_path, lease_ttl=5.0, heartbeat=0.5) as c:
        c.start_server()
        c.start_worker("w1", concurrency=4)
        c.wait_workers_connected("w1")
        tasks = run_through_server_restart(c, 40)
        assert all(t["status"] == "completed" for t in tasks), [t["status"] for t in tasks]
        with c.admin() as api:
            metrics = api.get("/metrics").text
        # Metrics restart with the server; no result may be accepted twice in either life.
        assert metric_value(metrics, "englog_task_results_total", disposition="duplicate") == 0
        assert c.workers["w1"].alive


def test_large_payloads_and_an_oversized_result_do_not_block_the_worker(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.start_server()
        c.start_worker("w1", "--handlers", "tests.support.handlers", concurrency=8)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            big = submit(api, "big_result", bytes=5 * 1024 * 1024)
            # Eight ~0.9 MiB payloads: more than one 4 MiB stream message can carry.
            ids = [submit(api, "noop", blob="x" * 900_000, n=i) for i in range(8)]
            tasks = [wait_status(api, task_id, TERMINAL) for task_id in ids]
            failed = wait_status(api, big, TERMINAL)
        assert [t["status"] for t in tasks] == ["completed"] * 8
        assert all(t["attempt"] == 1 for t in tasks)
        assert tasks[3]["result"]["n"] == 3
        assert failed["status"] == "failed" and "too large" in failed["error"]
        assert failed["attempt"] == 1  # non-retriable: not tried again


def test_sigterm_stops_server_and_worker_with_health_gracefully(tmp_path: Path) -> None:
    """One SIGTERM is a graceful stop, exit 0, for a server and for a worker serving
    its health endpoints (their HTTP servers must not take the signal for themselves)."""
    with cluster(tmp_path) as c:
        server = c.start_server()
        worker = c.start_worker("w1", "--health-listen", "127.0.0.1:0")
        health = health_port(worker)
        c.wait_workers_connected("w1")
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{health}/readiness", timeout=2).status_code == 200,
            20,
            what="worker readiness",
        )
        assert worker.terminate(timeout=30) == 0, worker.log()[-2000:]
        assert '"worker_stopped"' in worker.log()
        assert server.terminate(timeout=30) == 0, server.log()[-2000:]
        assert '"server_stopped"' in server.log()
        assert "second signal" not in server.log() + worker.log()


def test_drain_timeout_is_kept_even_when_a_handler_blocks_its_thread(tmp_path: Path) -> None:
    """A thread cannot be killed: past --drain-timeout the worker reports the task back
    (retriable) and exits without waiting for the thread."""
    with cluster(tmp_path) as c:
        c.start_server()
        worker = c.start_worker("w1", "--drain-timeout", "0.5", "--health-listen", "127.0.0.1:0")
        health = health_port(worker)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            task_id = submit(api, "sleep_blocking", seconds=30)
            # RUNNING is stored at submission (lease on arrival), before the worker has the
            # task: wait until its runner holds it, so the handler's thread is what drains.
            wait_for(lambda: _active_tasks(health) == 1, 20, what="handler running")
            started = time.monotonic()
            assert worker.terminate(timeout=20) == 0, worker.log()[-2000:]
            assert time.monotonic() - started < 10
            assert "handler thread(s) still running" in worker.log()
            task = task_of(api, task_id)
        assert task["status"] == "pending" and task["attempt"] == 2, task


def _active_tasks(health_port: int) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{health_port}/metrics", timeout=2).text
    return metric_value(metrics, "englog_worker_tasks_active")
