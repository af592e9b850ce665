"""Memory pressure on a worker (issue 27): a handler allocates until its process runs
out of memory (an address-space limit of its own, `tests.support.handlers.hog`). The
worker survives: that task fails with the cause named in its attempts and in the
worker's log, retriable and then failed once its attempts are spent, while every other
task on the same worker completes exactly once."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.chaos.runs import (
    ECHO_HANDLERS,
    exactly_once_per_task,
    start_worker,
    submit_echo,
    wait_all_terminal,
)
from tests.support.procs import cluster, health_port, log_events, wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_handler_that_runs_out_of_memory_fails_alone(tmp_path: Path) -> None:
    with cluster(tmp_path, heartbeat=0.5) as c:
        c.start_server()
        worker = start_worker(
            c, "w1", *ECHO_HANDLERS, "--health-listen", "127.0.0.1:0", concurrency=4
        )
        health = health_port(worker)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            r = api.post(
                "/v1/tasks",
                json={"type": "hog", "payload": {"headroom_mb": 256}, "max_attempts": 2},
            )
            assert r.status_code == 202, r.text
            hog_id = r.json()["task_id"]
            expected = submit_echo(api, 40, 0.05)
            tasks = wait_all_terminal(api, [hog_id, *expected], timeout=60)
        hog = tasks.pop(hog_id)
        assert hog["status"] == "failed", hog
        assert [a["outcome"] for a in hog["attempts"]] == ["failed", "failed"], hog
        assert all("MemoryError" in a["error"] for a in hog["attempts"]), hog["attempts"]
        assert {t["status"] for t in tasks.values()} == {"completed"}
        problems = exactly_once_per_task(tasks, expected)
        assert not problems, "\n".join(problems[:10])
        assert worker.alive, f"the worker died of its handler's hunger:\n{worker.log()[-2000:]}"
        crashed = log_events(worker, "handler_crashed")
        assert len(crashed) == 2 and all("MemoryError" in str(e) for e in crashed), crashed
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{health}/readiness", timeout=2).status_code == 200,
            10,
            what="the worker ready for work after the pressure",
        )
