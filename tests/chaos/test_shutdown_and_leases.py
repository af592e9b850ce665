"""Issue 3: SIGTERM drains a worker without losing anything (and a second signal does
not wait), and a handler that blocks its thread past the lease keeps that lease."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.runs import (
    ResultLedger,
    RunTotals,
    all_tasks,
    registrations,
    start_worker,
    submit_many,
    wait_all_in,
    wait_all_terminal,
    wait_completed_count,
)
from tests.support.procs import cluster, log_events, metric_value, wait_for

pytestmark = pytest.mark.timeout(120)
RUNNING_W1 = ("running", "w1")
W1_FIRST = ("w1", 1)


def test_sigterm_mid_run_finishes_running_tasks_and_exits_zero(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    started = time.monotonic()
    with cluster(tmp_path, lease_ttl=5.0, heartbeat=0.5) as c:
        c.start_server()
        w1 = start_worker(c, "w1", "--outbox", str(tmp_path / "w1.outbox"), concurrency=4)
        w2 = start_worker(c, "w2", "--outbox", str(tmp_path / "w2.outbox"), concurrency=4)
        c.wait_workers_connected("w1", "w2")
        with c.admin() as api:
            ids = submit_many(api, 60, "sleep", {"seconds": 0.4})
            wait_completed_count(api, ids, 10, timeout=30)

            def running_on_w1() -> list[str]:
                tasks = all_tasks(api)
                found = [tasks[i] for i in ids]
                return [t["task_id"] for t in found if (t["status"], t["worker_id"]) == RUNNING_W1]

            held = wait_for(running_on_w1, 20, interval=0.02, what="tasks running on w1")
            sent = time.monotonic()
            code = w1.terminate(timeout=30)
            drain_s = time.monotonic() - sent
            tasks = wait_all_terminal(api, ids, timeout=60)
            ledger = ResultLedger()
            ledger.scrape(api)
        totals = RunTotals(
            "SIGTERM drain",
            tasks,
            ledger,
            registrations([w1, w2]),
            started,
            extra={"drained_tasks": len(held), "drain_s": f"{drain_s:.1f}", "exit": code},
        )
        say(totals.line())
        assert code == 0, f"worker exit code {code}:\n{w1.log()[-2000:]}"
        totals.assert_nothing_lost()
        moved = [tasks[i] for i in held if (tasks[i]["worker_id"], tasks[i]["attempt"]) != W1_FIRST]
        assert not moved, f"tasks running at SIGTERM were not finished by w1: {moved}"
        assert {t["worker_id"] for t in tasks.values()} == {"w1", "w2"}


def worker_stats(api: httpx.Client, worker_id: str) -> dict[str, Any]:
    """The figures `worker_id` sent with its last heartbeat."""
    rows = api.get("/v1/workers").json()["workers"]
    return next((dict(w.get("stats") or {}) for w in rows if w["id"] == worker_id), {})


def test_drain_timeout_hands_unfinished_tasks_back_for_a_retry(tmp_path: Path) -> None:
    with cluster(tmp_path, lease_ttl=5.0, heartbeat=0.5) as c:
        c.start_server()
        w1 = start_worker(c, "w1", "--drain-timeout", "0.5", concurrency=2)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            ids = submit_many(api, 2, "sleep", {"seconds": 3.0})
            wait_all_in(api, ids, "running")
            # "running" is the server's word at dispatch; a SIGTERM before the worker has
            # read the assignment off its stream leaves that task to its lease expiry, so
            # wait for the worker's own count (its heartbeat's active tasks).
            wait_for(
                lambda: worker_stats(api, "w1").get("active_tasks") == 2,
                20,
                what="both tasks running on w1",
            )
            sent = time.monotonic()
            code = w1.terminate(timeout=30)
            assert time.monotonic() - sent < 10, "drain did not stop at --drain-timeout"
            assert code == 0, f"worker exit code {code}:\n{w1.log()[-2000:]}"
            after = [api.get(f"/v1/tasks/{i}").json() for i in ids]
            # Cancelled by the drain and reported retriable before the exit (not left to
            # a lease expiry): the attempt says so, and the task is queued again.
            for task in after:
                assert task["status"] == "pending", task
                assert [(a["worker_id"], a["outcome"], a["error"]) for a in task["attempts"]] == [
                    ("w1", "failed", "worker shutting down")
                ], task
            start_worker(c, "w2", concurrency=2)
            tasks = wait_all_terminal(api, ids, timeout=40)
            details = [api.get(f"/v1/tasks/{i}").json() for i in ids]
        assert [t["status"] for t in tasks.values()] == ["completed"] * 2, tasks
        assert all(t["worker_id"] == "w2" and t["attempt"] == 2 for t in tasks.values()), tasks
        for detail in details:
            attempts = detail["attempts"]
            assert [(a["worker_id"], a["outcome"]) for a in attempts] == [
                ("w1", "failed"),
                ("w2", "completed"),
            ], attempts


def test_a_second_signal_does_not_wait_for_the_drain(tmp_path: Path) -> None:
    with cluster(tmp_path, lease_ttl=2.0, heartbeat=0.5) as c:
        c.start_server()
        w1 = start_worker(c, "w1", "--drain-timeout", "60", concurrency=2)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            ids = submit_many(api, 2, "sleep", {"seconds": 60.0})
            wait_all_in(api, ids, "running")
            assert w1.popen is not None
            w1.popen.send_signal(signal.SIGTERM)
            wait_for(lambda: log_events(w1, "draining"), 10, what="worker draining")
            assert w1.alive, "the first SIGTERM must drain, not exit"
            sent = time.monotonic()
            w1.popen.send_signal(signal.SIGTERM)
            w1.popen.wait(10)
            assert time.monotonic() - sent < 5, "the second signal waited for the drain"
            # Nothing lost: the tasks go back to the queue (lease or retriable cancel).
            wait_all_in(api, ids, "pending", timeout=20)


def test_blocking_handlers_on_every_slot_keep_their_leases(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    started = time.monotonic()
    # Margins a loaded 2-core machine keeps: silence is declared after 1.5 s, the lease
    # is 2 s, and each handler blocks its thread for 4 s, twice the lease.
    with cluster(tmp_path, lease_ttl=2.0, heartbeat=0.5) as c:
        c.start_server()
        w1 = start_worker(c, "w1", concurrency=2)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            ids = submit_many(api, 4, "sleep_blocking", {"seconds": 4.0})
            tasks = wait_all_terminal(api, ids, timeout=40)
            metrics = api.get("/metrics").text
            ledger = ResultLedger()
            ledger.scrape(api)
        expired = metric_value(metrics, "englog_leases_expired_total")
        totals = RunTotals(
            "blocking handlers > lease",
            tasks,
            ledger,
            registrations([w1]),
            started,
            extra={"leases_expired": int(expired)},
        )
        say(totals.line())
        totals.assert_nothing_lost()
        assert all(t["attempt"] == 1 for t in tasks.values()), tasks
        assert expired == 0, "a lease expired while its blocking handler was running"
