"""A task queue at its bound (issue 27, from the original's fault list): a user at
`--max-queued-per-user` is refused with a 429 that names the cap and says when to come
back; the client library waits it out and resends under the same idempotency keys. The
work completes, each task once, nothing is lost or doubled, and the cause is logged and
visible in `/health` and `/metrics`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from englog.client import Client, RetryPolicy
from englog.server.queue import REFUSAL_LOG_EVERY_S
from tests.chaos.runs import all_tasks, exactly_once_per_task, start_worker, wait_all_terminal
from tests.support.procs import cluster, log_events, metric_value

pytestmark = pytest.mark.timeout(120)

CAP = 8
TASKS = 24  # three times the cap: the submitters meet the bound more than once
# Retry-After is 5 s at the cap; a submitter keeps at it for up to a minute.
PATIENT = RetryPolicy(attempts=30, initial_s=0.1, max_s=6.0, total_s=60.0)


def test_a_submitter_at_the_cap_waits_and_loses_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    with cluster(tmp_path) as c:
        c.start_server("--max-queued-per-user", str(CAP))
        token = c.create_user("busy")
        start_worker(c, "w1", concurrency=2)
        c.wait_workers_connected("w1")
        assert c.server is not None
        expected: set[str] = set()
        lock = threading.Lock()
        errors: list[BaseException] = []

        def submit(client: Client, n: int) -> None:
            try:
                # `sleep`: what a user (not the admin) may submit to the shared workers.
                handle = client.submit("sleep", {"seconds": 0.15}, max_attempts=3)
                with lock:
                    expected.add(handle.id)
            except BaseException as exc:
                errors.append(exc)

        with Client(c.server.url, token, retry=PATIENT) as client:
            threads = [
                threading.Thread(target=submit, args=(client, n), name=f"submit-{n}")
                for n in range(TASKS)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=90)
        assert not errors, errors
        assert len(expected) == TASKS
        with c.admin() as api:
            tasks = wait_all_terminal(api, list(expected), timeout=60)
            stored = set(all_tasks(api))
            health = api.get("/health").json()
            metrics = api.get("/metrics").text
        assert stored == set(expected), "a resent submission made a second task"
        assert {t["status"] for t in tasks.values()} == {"completed"}
        problems = exactly_once_per_task(tasks)
        assert not problems, "\n".join(problems[:10])
        # The bound was met, and says so where an operator looks.
        refused = health["queue_bound"]["refused_submissions"]
        assert health["queue_bound"]["max_queued_per_user"] == CAP
        assert refused > 0, health
        assert (
            metric_value(metrics, "englog_submissions_refused_total", reason="too_many_tasks")
            == refused
        )
        lines = log_events(c.server, "submission_refused_at_cap")
        assert lines and lines[0]["max_queued_per_user"] == CAP, lines
        # One line per user per REFUSAL_LOG_EVERY_S, however many refusals: no flood.
        allowed = 1 + int((time.monotonic() - started) // REFUSAL_LOG_EVERY_S)
        assert len(lines) <= allowed, (len(lines), allowed, refused)


def test_the_429_names_the_cap_and_when_to_come_back(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.start_server("--max-queued-per-user", "2")
        token = c.create_user("eager")
        assert c.server is not None
        with httpx.Client(
            base_url=c.server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as api:
            for _ in range(2):  # no worker: both stay pending
                assert api.post("/v1/tasks", json={"type": "noop"}).status_code == 202
            r = api.post("/v1/tasks", json={"type": "noop"})
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "too_many_tasks" and "at most 2" in r.json()["detail"]
        assert int(r.headers["Retry-After"]) > 0
