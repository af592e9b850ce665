"""Issue 3: 300 short tasks across two workers whose every connection to the server
goes through a proxy that cuts, delays and blackholes their traffic."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.chaos.runs import (
    TERMINAL,
    ResultLedger,
    RunTotals,
    all_tasks,
    registrations,
    start_workers_behind,
    submit_echo,
    wait_all_terminal,
)
from tests.support.procs import cluster
from tests.support.proxy import ChaosSchedule, ThreadedProxy

pytestmark = pytest.mark.timeout(170)

TASKS = 300
CHAOS = ChaosSchedule(
    duration=40.0, cut_every=1.5, latency=0.005, blackhole_every=4.0, blackhole_for=1.2
)


def test_300_tasks_through_cuts_latency_and_blackholes(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    started = time.monotonic()
    with cluster(tmp_path, lease_ttl=6.0, heartbeat=1.0) as c:
        c.start_server()
        with ThreadedProxy(c.grpc_port) as proxy:
            start_workers_behind(c, proxy, tmp_path)
            chaos = proxy.start_chaos(CHAOS)
            with c.admin() as api:
                expected = submit_echo(api, TASKS, 0.4, max_attempts=10)
                ids = list(expected)
                under_chaos = _finished_within(api, ids, CHAOS.duration)
                proxy.stop_chaos()
                assert not chaos.exception(), chaos.exception()
                tasks = wait_all_terminal(api, ids, timeout=90)
                ledger = ResultLedger()
                ledger.scrape(api)
            stats = proxy.stats
        totals = RunTotals(
            "network chaos (2 workers via proxy)",
            tasks,
            ledger,
            registrations(c.workers.values()),
            started,
            extra={
                "finished_under_chaos": under_chaos,
                "proxy_connections": stats.accepted,
                "connections_cut": stats.cut,
                "blackholes": stats.blackholes,
            },
            expected=expected,
        )
        say(totals.line())
        assert stats.cut >= 2, f"the chaos never cut a live connection: {stats}"
        totals.assert_nothing_lost()
        assert all(w.alive for w in c.workers.values()), "a worker died under chaos"


def _finished_within(api: httpx.Client, ids: list[str], within: float) -> int:
    """How many tasks finished while the chaos still ran (it may outlast the run)."""
    with contextlib.suppress(AssertionError):
        wait_all_terminal(api, ids, timeout=within)
    tasks = all_tasks(api)
    return sum(tasks[i]["status"] in TERMINAL for i in ids if i in tasks)
