"""Issue 3: results a worker finished but could not report survive in its outbox, both
a SIGKILL of the worker itself and a server outage longer than the whole retry
window, and are delivered (not recomputed) once the way to the server is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.runs import (
    ResultLedger,
    RunTotals,
    outbox_rows,
    registrations,
    start_worker,
    submit_many,
    wait_all_in,
    wait_all_terminal,
)
from tests.support.procs import cluster, wait_for
from tests.support.proxy import ThreadedProxy

pytestmark = pytest.mark.timeout(120)

# Seed retry policy: 5 attempts from 100 ms doubling, so about 0.1+0.2+0.4+0.8 s of
# backoff (plus jitter and call time) before a report would give up.
RETRY_WINDOW_S = 3.0


def wait_outbox(path: Path, rows: int, timeout: float = 20.0) -> None:
    def holds() -> bool:
        return outbox_rows(path) >= rows

    try:
        wait_for(holds, timeout, interval=0.1, what=f"{rows} results in the outbox")
    except TimeoutError as exc:
        raise AssertionError(
            f"the outbox {path} holds {outbox_rows(path)} results, expected {rows}: "
            "finished results must be written there before they are reported "
            "(is --outbox implemented?)"
        ) from exc


def test_sigkilled_worker_delivers_its_outbox_after_restart(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    started = time.monotonic()
    outbox = tmp_path / "w1.outbox"
    # The worker's silence (refused from the moment its tasks run, then killed, then
    # restarted: a Python start, about 3 s on a busy machine) must stay shorter than the
    # server's patience (3 heartbeats: 15 s), or the tasks are rightly taken back and
    # rerun before the restarted worker can deliver. At 2 s heartbeats (6 s) a loaded
    # CI run lost that race.
    with cluster(tmp_path, lease_ttl=30.0, heartbeat=5.0) as c:
        c.start_server()
        with ThreadedProxy(c.grpc_port) as proxy:
            args = ("--outbox", str(outbox))
            start_worker(c, "w1", *args, server=proxy.target, concurrency=8)
            c.wait_workers_connected("w1")
            with c.admin() as api:
                # Long enough that none finishes before its report is cut off, even on
                # a machine busy with other tests.
                ids = submit_many(api, 8, "sleep", {"seconds": 2.0})
                wait_all_in(api, ids, "running")
                proxy.refuse()  # the worker can no longer report
                wait_outbox(outbox, len(ids))
                c.workers["w1"].kill()
                assert outbox_rows(outbox) == len(ids)
                still = [api.get(f"/v1/tasks/{i}").json()["status"] for i in ids]
                assert still == ["running"] * len(ids), still  # nothing reached the server
                proxy.resume()
                start_worker(c, "w1", *args, server=proxy.target, concurrency=8)
                tasks = wait_all_terminal(api, ids, timeout=40)
                wait_for(lambda: outbox_rows(outbox) == 0, 10, what="outbox emptied once acked")
                ledger = ResultLedger()
                ledger.scrape(api)
        w1 = registrations([c.workers["w1"]])
        totals = RunTotals("worker SIGKILL + outbox", tasks, ledger, w1, started)
        say(totals.line())
        totals.assert_nothing_lost()
        reran = [t for t in tasks.values() if t["attempt"] != 1 or t["worker_id"] != "w1"]
        assert not reran, f"results were recomputed instead of delivered from the outbox: {reran}"


def test_results_wait_out_a_server_outage_longer_than_the_retry_window(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    started = time.monotonic()
    outbox = tmp_path / "w1.outbox"
    ledger = ResultLedger()
    with cluster(tmp_path, lease_ttl=10.0, heartbeat=0.5) as c:
        c.start_server()
        worker = start_worker(c, "w1", "--outbox", str(outbox), concurrency=8)
        c.wait_workers_connected("w1")
        with c.admin() as api:
            # Running well past the kill, even on a busy machine: their results wait
            # out the outage in the outbox.
            first = submit_many(api, 8, "sleep", {"seconds": 3.0})
            later = submit_many(api, 8, "noop")  # queued behind the first eight
            wait_all_in(api, first, "running")
            ledger.scrape(api)
        assert c.server is not None
        c.server.kill()
        down_at = time.monotonic()
        wait_outbox(outbox, len(first))
        outage = RETRY_WINDOW_S * 2
        wait_for(
            lambda: time.monotonic() - down_at > outage,
            outage + 5,
            what="the outage to outlast the retry window",
        )
        assert worker.alive, f"the worker gave up during the outage:\n{worker.log()[-2000:]}"
        assert outbox_rows(outbox) == len(first)
        c.start_server()
        with c.admin() as api:
            tasks = wait_all_terminal(api, first + later, timeout=60)
            wait_for(lambda: outbox_rows(outbox) == 0, 10, what="outbox emptied once acked")
            ledger.scrape(api)
        totals = RunTotals(
            "server outage > retry window",
            tasks,
            ledger,
            registrations([worker]),
            started,
            extra={"outage_s": f"{time.monotonic() - down_at:.1f}"},
            server_killed=True,
        )
        say(totals.line())
        totals.assert_nothing_lost()
        recomputed = [tasks[i] for i in first if tasks[i]["attempt"] != 1]
        assert not recomputed, f"outbox results were recomputed: {recomputed}"
