"""Issue 3: the server is SIGKILLed and restarted twice while two workers run 300
tasks; nothing is lost and every result is accepted once across its three lives."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.runs import (
    ResultLedger,
    RunTotals,
    registrations,
    start_workers_behind,
    submit_echo,
    wait_all_terminal,
    wait_completed_count,
)
from tests.support.procs import Cluster, cluster
from tests.support.proxy import ThreadedProxy

pytestmark = pytest.mark.timeout(170)

TASKS = 300


def kill_and_restart(c: Cluster, proxy: ThreadedProxy, ledger: ResultLedger) -> None:
    """SIGKILL with the workers' calls in flight. The proxy holds their bytes while
    the dying server's counters are read (metrics die with it), then lets the
    held calls hit the dead port."""
    assert c.server is not None
    proxy.blackhole(30)
    with c.admin() as api:
        ledger.scrape(api)
    c.server.kill()
    proxy.heal()
    c.start_server()


def test_300_tasks_survive_two_server_sigkills(tmp_path: Path, say: Callable[[str], None]) -> None:
    started = time.monotonic()
    ledger = ResultLedger()
    with cluster(tmp_path, lease_ttl=5.0, heartbeat=0.5) as c:
        c.start_server()
        with ThreadedProxy(c.grpc_port) as proxy:
            start_workers_behind(c, proxy, tmp_path)
            with c.admin() as api:
                expected = submit_echo(api, TASKS, 0.2)
                ids = list(expected)
                wait_completed_count(api, ids, TASKS // 3, timeout=60)
            kill_and_restart(c, proxy, ledger)
            with c.admin() as api:
                wait_completed_count(api, ids, 2 * TASKS // 3, timeout=60)
            kill_and_restart(c, proxy, ledger)
            with c.admin() as api:
                tasks = wait_all_terminal(api, ids, timeout=90)
                ledger.scrape(api)
        totals = RunTotals(
            "server SIGKILL x2",
            tasks,
            ledger,
            registrations(c.workers.values()),
            started,
            extra={"server_lives": 3},
            expected=expected,
        )
        say(totals.line())
        totals.assert_nothing_lost()
        assert all(w.alive for w in c.workers.values()), "a worker gave up on the server"
