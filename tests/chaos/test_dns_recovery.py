"""DNS failing, then recovering (issue 27, from the original's fault list): the worker
dials a server name that does not resolve (a real NXDOMAIN from a DNS server the test
runs), stays alive, says why in its log and in `/health`, and once the name resolves
it connects by itself and runs the work that waited, each task exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.runs import (
    ECHO_HANDLERS,
    exactly_once_per_task,
    start_worker,
    submit_echo,
    wait_all_terminal,
)
from tests.support.dns import SwitchableDns
from tests.support.procs import cluster, health_port, log_events, wait_for

pytestmark = pytest.mark.timeout(90)


def test_a_server_name_that_resolves_late_is_reached_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    with cluster(tmp_path) as c, SwitchableDns() as dns:
        c.start_server()
        # A worker that knows `echo` registers once and leaves: the server then accepts
        # echo tasks, which wait for a worker that can reach it.
        seed = start_worker(c, "w-seed", *ECHO_HANDLERS)
        c.wait_workers_connected("w-seed")
        assert seed.terminate(timeout=20) == 0
        with c.admin() as api:
            expected = submit_echo(api, 30)
        worker = start_worker(
            c,
            "w-dns",
            *ECHO_HANDLERS,
            "--health-listen",
            "127.0.0.1:0",
            server=dns.target(c.grpc_port),
        )
        health = health_port(worker)

        def server_dep() -> dict[str, Any] | None:
            r = httpx.get(f"http://127.0.0.1:{health}/health", timeout=2)
            return r.json()["dependencies"]["server"] if r.status_code == 200 else None

        # The failure is real (the DNS server answered NXDOMAIN), logged and visible.
        down = wait_for(
            lambda: (d := server_dep()) and d["last_error"] and d,
            20,
            what="/health naming why the server cannot be reached",
        )
        assert down["registered"] is False and down["connection"] != "ready", down
        assert "does not resolve" in down["hint"], down
        assert "englog-server.test" in down["last_error"] or "DNS" in down["last_error"], down
        assert dns.refused_queries() > 0
        logged = log_events(worker, "cannot_reach_server")
        assert logged and "does not resolve" in logged[0]["hint"], logged
        r = httpx.get(f"http://127.0.0.1:{health}/readiness", timeout=2)
        assert r.status_code == 503, r.text
        with c.admin() as api:
            pending = api.get("/v1/tasks", params={"status": "pending"}).json()
            assert len(pending["tasks"]) == len(expected), "nothing runs while unresolvable"

        dns.resolve()
        c.wait_workers_connected("w-dns", timeout=30)
        up = wait_for(
            lambda: (d := server_dep()) and d["registered"] and d,
            20,
            what="the worker registered once the name resolves",
        )
        assert up["last_error"] is None and up["hint"] is None, up
        with c.admin() as api:
            tasks = wait_all_terminal(api, list(expected), timeout=40)
        assert {t["status"] for t in tasks.values()} == {"completed"}
        problems = exactly_once_per_task(tasks, expected)
        assert not problems, "\n".join(problems[:10])
        assert worker.alive
        assert worker.terminate(timeout=20) == 0
        assert "Traceback" not in worker.log()
