"""A slow, lossy way between workers and server (issue 27): every chunk of bytes is
held 100 ms each way, and 5 % of them are held 0.2-1 s longer, which is how a lost
packet looks to a TCP connection (retransmitted after a timeout). Work completes,
each result accepted once and credited to its own task, and no worker gives up."""

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
)
from tests.support.procs import cluster
from tests.support.proxy import ThreadedProxy

pytestmark = pytest.mark.timeout(240)

TASKS = 150
LATENCY_S = 0.1
LOSS = 0.05


def test_tasks_complete_once_over_a_slow_lossy_link(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    started = time.monotonic()
    with cluster(tmp_path, lease_ttl=10.0, heartbeat=1.0) as c:
        c.start_server()
        with ThreadedProxy(c.grpc_port) as proxy:
            start_workers_behind(c, proxy, tmp_path)
            proxy.set_latency(LATENCY_S)
            proxy.set_loss(LOSS)
            with c.admin() as api:
                expected = submit_echo(api, TASKS, 0.05)
                tasks = wait_all_terminal(api, list(expected), timeout=180, interval=0.5)
                ledger = ResultLedger()
                ledger.scrape(api)
            stats = proxy.stats
        totals = RunTotals(
            f"slow lossy link ({LATENCY_S * 1000:.0f} ms, {LOSS:.0%} chunks +0.2-1 s)",
            tasks,
            ledger,
            registrations(c.workers.values()),
            started,
            extra={"lost_chunks": stats.lost_chunks, "proxy_connections": stats.accepted},
            expected=expected,
        )
        say(totals.line())
        assert stats.lost_chunks > 0, f"the loss never struck: {stats}"
        totals.assert_nothing_lost()
        assert all(w.alive for w in c.workers.values()), "a worker died on the slow link"
