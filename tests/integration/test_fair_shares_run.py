"""One user's burst of long tasks leaves another user's report running promptly
(issue 22), on a real server and worker with the default per-user cap."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.procs import cluster, wait_for


def test_eight_long_sleeps_leave_another_users_report_running(tmp_path: Path) -> None:
    with cluster(tmp_path, heartbeat=0.5) as c:
        server = c.start_server()
        hog, other = c.create_user("hog"), c.create_user("other")
        c.start_worker("w1", concurrency=4)
        c.wait_workers_connected("w1")
        with httpx.Client(base_url=server.url, timeout=30) as h:
            as_hog = {"Authorization": f"Bearer {hog}"}
            as_other = {"Authorization": f"Bearer {other}"}
            # The most a user may ask: 60 s sleeps at priority 100.
            sleeps = {"type": "sleep", "payload": {"seconds": 60}, "priority": 100}
            for _ in range(8):
                assert h.post("/v1/tasks", json=sleeps, headers=as_hog).status_code == 202
            running = wait_for(
                lambda: [
                    t
                    for t in h.get("/v1/tasks", headers=as_hog).json()["tasks"]
                    if t["status"] == "running"
                ],
                timeout=20,
                what="the hog's tasks running",
            )
            assert len(running) <= 2
            entry = {
                "title": "review",
                "type": "meeting",
                "start_time": "2026-12-01T09:00:00Z",
                "end_time": "2026-12-01T10:30:00Z",
            }
            made = h.post("/v1/entries", json=entry, headers=as_other)
            assert made.status_code == 201, made.text
            started = time.monotonic()
            week = {"week_start": "2026-11-30", "week_end": "2026-12-06"}
            report = h.post("/v1/tasks/reports", json=week, headers=as_other)
            assert report.status_code == 202, report.text
            task_id = report.json()["task_id"]
            wait_for(
                lambda: (
                    h.get(f"/v1/tasks/{task_id}", headers=as_other).json()["status"] == "completed"
                ),
                timeout=20,
                what="the other user's report done",
            )
            assert time.monotonic() - started < 20
            # The hog still holds at most its cap.
            tasks = h.get("/v1/tasks", headers=as_hog).json()["tasks"]
            assert sum(t["status"] == "running" for t in tasks) <= 2
            # And no user may ask for an hour's sleep.
            assert (
                h.post(
                    "/v1/tasks",
                    json={"type": "sleep", "payload": {"seconds": 3600}},
                    headers=as_hog,
                ).status_code
                == 422
            )
