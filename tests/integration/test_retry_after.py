"""A handler's `retry_after` reaches the server's schedule: real server and worker
processes, a handler failing its first attempt with `retry_after=2`; the server's own
backoff after a first attempt is at most 1 s (full jitter), so a second attempt
leased 2 s or more later can only come from the handler's wish."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.support.procs import cluster, wait_for

pytestmark = pytest.mark.timeout(120)

RETRY_AFTER_S = 2.0


def test_the_next_attempt_waits_for_the_handlers_retry_after(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.start_server()
        c.start_worker("w1", "--handlers", "tests.support.handlers")
        c.wait_workers_connected("w1")
        with c.admin() as api:
            r = api.post(
                "/v1/tasks", json={"type": "retry_after", "payload": {"seconds": RETRY_AFTER_S}}
            )
            assert r.status_code == 202, r.text
            task_id = r.json()["task_id"]
            task = wait_for(
                lambda: (
                    (t := api.get(f"/v1/tasks/{task_id}").json())["status"] == "completed" and t
                ),
                60,
                interval=0.1,
                what=f"task {task_id} completed",
            )
    first, second = task["attempts"]
    assert (first["outcome"], first["error"]) == ("failed", "dependency busy")
    assert second["outcome"] == "completed" and task["result"] == {"attempt": 2}
    waited = (
        datetime.fromisoformat(second["started_at"]) - datetime.fromisoformat(first["ended_at"])
    ).total_seconds()
    # Both times are the server's clock: the report's acceptance, then the next lease.
    assert RETRY_AFTER_S - 0.05 <= waited < RETRY_AFTER_S + 20, waited
