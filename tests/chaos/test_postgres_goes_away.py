"""PostgreSQL goes away (issue 27), on a private cluster the test owns: an immediate-mode
(crash) restart in the middle of a run, and pg_terminate_backend of every englog
connection, again and again. The englog server is never restarted: it reconnects by
itself, `/readiness` says 503 while the database is gone and 200 once it is back, the
client library resends the submissions that failed (under their idempotency keys),
and, read from the stored attempts task by task, nothing is lost or doubled."""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.runs import (
    ECHO_HANDLERS,
    Submitter,
    all_tasks,
    exactly_once_per_task,
    start_worker,
    wait_all_terminal,
)
from tests.support.pg_cluster import PrivatePostgres, private_postgres
from tests.support.procs import Cluster, ServerProc, cluster, holds_for, wait_for

pytestmark = pytest.mark.timeout(300)

TERMINATIONS = 3


def readiness(server: ServerProc) -> httpx.Response:
    return httpx.get(f"{server.url}/readiness", timeout=5)


def start_run(c: Cluster, tmp: Path) -> tuple[ServerProc, Submitter, int]:
    server = c.start_server()
    for wid in ("w1", "w2"):
        outbox = str(tmp / f"{wid}.outbox")
        start_worker(c, wid, "--outbox", outbox, *ECHO_HANDLERS, concurrency=8)
    c.wait_workers_connected("w1", "w2")
    assert server.popen is not None
    submitter = Submitter(server.url, random.Random(secrets.randbits(32)))
    submitter.start()
    return server, submitter, server.popen.pid


def verdict(
    c: Cluster, name: str, expected: dict[str, Any], started: float, say: Callable[[str], None]
) -> None:
    with c.admin() as api:
        tasks = wait_all_terminal(api, list(expected), timeout=120, interval=0.5)
        stored = set(all_tasks(api))
    outcomes = Counter(a["outcome"] for t in tasks.values() for a in t["attempts"])
    statuses = Counter(t["status"] for t in tasks.values())
    say(
        f"[chaos] {name}: tasks={len(expected)} {dict(statuses)}, "
        f"attempt outcomes {dict(outcomes)}, "
        f"retried={sum(t['attempt'] > 1 for t in tasks.values())}, "
        f"wall={time.monotonic() - started:.1f}s"
    )
    assert stored == set(expected), "a resent submission made a second task, or one was lost"
    assert statuses == {"completed": len(expected)}, statuses
    problems = exactly_once_per_task(tasks, expected)
    assert not problems, "\n".join(problems[:10])


UNHANDLED = ("Exception in ASGI application", "raised by servicer method")


def handled_every_failure(server: ServerProc) -> None:
    """Every failure the database caused was answered as a store error (HTTP 503, a
    gRPC status), none escaped as a 500 or a crashed stream."""
    found = [line for line in server.log().splitlines() if any(u in line for u in UNHANDLED)]
    assert not found, "\n".join(found[:5])


def wait_progress(c: Cluster, submitter: Submitter, more: int = 20) -> None:
    """Until `more` tasks beyond those completed now have completed: work is flowing."""
    with c.admin() as api:

        def completed() -> int:
            tasks = all_tasks(api)
            return sum(
                tasks.get(i, {}).get("status") == "completed" for i in list(submitter.expected)
            )

        target = completed() + more
        wait_for(lambda: completed() >= target, 60, interval=0.2, what=f"{more} more completed")


def test_immediate_restart_mid_run(tmp_path: Path, say: Callable[[str], None]) -> None:
    started = time.monotonic()
    with (
        private_postgres() as pg,
        cluster(tmp_path, db_url=pg.url, lease_ttl=5.0, heartbeat=0.5) as c,
    ):
        server, submitter, pid = start_run(c, tmp_path)
        try:
            wait_progress(c, submitter)
            pg.stop("immediate")  # a crash: no checkpoint, connections cut
            down = wait_for(
                lambda: (r := readiness(server)).status_code == 503 and r,
                15,
                what="/readiness 503 while PostgreSQL is down",
            )
            assert down.json()["status"] == "not_ready" and "store" in down.json()["reason"]
            holds_for(
                lambda: readiness(server).status_code == 503, 1.5, what="503 while it stays down"
            )
            pg.start()  # recovers from its WAL
            wait_for(
                lambda: readiness(server).status_code == 200,
                30,
                what="/readiness 200 once PostgreSQL is back",
            )
            back_at = len(submitter.expected)
            wait_for(
                lambda: len(submitter.expected) >= back_at + 20,
                30,
                what="submissions accepted again after the restart",
            )
        finally:
            expected = submitter.finish()
        assert server.alive and server.popen is not None and server.popen.pid == pid
        verdict(c, "PostgreSQL immediate restart", expected, started, say)
        assert server.alive, "the englog server died with its database"
        handled_every_failure(server)
        assert "database system was interrupted" in pg.log() or "recovery" in pg.log()


def test_terminated_backends_are_replaced(tmp_path: Path, say: Callable[[str], None]) -> None:
    started = time.monotonic()
    rng = random.Random(secrets.randbits(32))
    ended: list[int] = []
    with (
        private_postgres() as pg,
        cluster(tmp_path, db_url=pg.url, lease_ttl=5.0, heartbeat=0.5) as c,
    ):
        server, submitter, pid = start_run(c, tmp_path)
        try:
            for _ in range(TERMINATIONS):
                wait_progress(c, submitter)
                # The chaos schedule (random on purpose), bounded; not a state wait.
                submitter.stop.wait(rng.uniform(0.2, 1.5))
                ended.append(_terminate(pg))
                wait_for(
                    lambda: readiness(server).status_code == 200,
                    30,
                    what="/readiness 200 after the backends were ended",
                )
        finally:
            expected = submitter.finish()
        assert all(n > 0 for n in ended), f"no englog connection was ended: {ended}"
        verdict(c, f"pg_terminate_backend x{TERMINATIONS} (ended {ended})", expected, started, say)
        assert server.alive and server.popen is not None and server.popen.pid == pid
        handled_every_failure(server)


def _terminate(pg: PrivatePostgres) -> int:
    return pg.terminate_backends()


def test_a_database_that_allows_fewer_connections_than_the_pool(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    """englog's pool wants up to 10 connections (and one to LISTEN); the database lets
    its role have 2 (one LISTENs, one serves): with statements this short (one per
    report or claim) three let a run go by without a refusal. Under load the pool's
    attempts to grow are refused: what needed a new connection fails as a store error
    (a 503, a gRPC status), is retried, and nothing is lost; the cause is in the
    server's log."""
    started = time.monotonic()
    with private_postgres() as pg:
        url = pg.limited_database(connections=2)
        with cluster(tmp_path, db_url=url, lease_ttl=5.0, heartbeat=0.5) as c:
            server, submitter, _ = start_run(c, tmp_path)
            try:
                for _ in range(3):
                    wait_progress(c, submitter, more=30)
            finally:
                expected = submitter.finish()
            verdict(c, "PostgreSQL pool exhausted (role limit 2)", expected, started, say)
            assert "too many connections for role" in server.log()
            handled_every_failure(server)
            # A probe that needs a second connection while the heartbeats hold the one the
            # role allows is refused, truthfully: readiness must come back, not be 200 at
            # any one instant.
            wait_for(lambda: readiness(server).status_code == 200, 30, what="/readiness 200")
