"""Crash anywhere (issue 27): the server is SIGKILLed at random moments while tasks are
being submitted, streamed to workers and reported, with no settling before a kill, several
times a run, on SQLite and on PostgreSQL. Submissions go through the client library
(resent under their idempotency key when a kill cuts them off). The verdict is read
from the stored attempts through the API, task by task: every task completed, exactly
one accepted attempt each, and each result is the echo of its own task's payload."""

from __future__ import annotations

import contextlib
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.chaos.runs import (
    ECHO_HANDLERS,
    Submitter,
    all_tasks,
    exactly_once_per_task,
    start_worker,
    wait_all_terminal,
)
from tests.support.pg import throwaway_database
from tests.support.procs import Cluster, cluster, wait_for

pytestmark = pytest.mark.timeout(240)

KILLS = 4
MIN_TASKS = 20 * KILLS


@contextlib.contextmanager
def store_url(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'englog.db'}"
    else:
        with throwaway_database("englog_crash") as url:
            yield url


def kill_at_random_moments(c: Cluster, rng: random.Random, submitter: Submitter) -> list[float]:
    """SIGKILL the server `KILLS` times, each a random 0.2-2.5 s after it came back:
    whatever it is doing then (a commit, a stream, a submission) is cut."""
    delays = []
    for _ in range(KILLS):
        delay = rng.uniform(0.2, 2.5)
        delays.append(round(delay, 2))
        # The chaos schedule itself (random on purpose), bounded; not a wait on a state.
        submitter.stop.wait(delay)
        assert submitter.error is None, submitter.error
        assert submitter.is_alive(), "the submitter ran out before the kills did"
        assert c.server is not None
        c.server.kill()
        c.start_server()
    return delays


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_server_sigkilled_at_random_moments_loses_and_doubles_nothing(
    tmp_path: Path, backend: str, say: Callable[[str], None]
) -> None:
    seed = secrets.randbits(32)
    rng = random.Random(seed)
    started = time.monotonic()
    with (
        store_url(backend, tmp_path) as db,
        cluster(tmp_path, db_url=db, lease_ttl=5.0, heartbeat=0.5) as c,
    ):
        c.start_server()
        for wid in ("w1", "w2"):
            outbox = str(tmp_path / f"{wid}.outbox")
            start_worker(c, wid, "--outbox", outbox, *ECHO_HANDLERS, concurrency=8)
        c.wait_workers_connected("w1", "w2")
        assert c.server is not None
        submitter = Submitter(c.server.url, rng)
        submitter.start()
        try:
            delays = kill_at_random_moments(c, rng, submitter)
            # However short the random schedule was, enough tasks must flow for the
            # test to mean something: the submitter goes on against the last server
            # until it has that many (a slow machine after 4 short kills had 77).
            wait_for(
                lambda: len(submitter.expected) >= MIN_TASKS or not submitter.is_alive(),
                timeout=60,
                what=f"{MIN_TASKS} tasks acknowledged",
            )
        finally:
            expected = submitter.finish()
        with c.admin() as api:
            tasks = wait_all_terminal(api, list(expected), timeout=120, interval=0.5)
            stored = set(all_tasks(api))
        outcomes: Counter[str] = Counter(
            a["outcome"] for t in tasks.values() for a in t["attempts"]
        )
        statuses = Counter(t["status"] for t in tasks.values())
        say(
            f"[chaos] crash anywhere ({backend}, seed {seed}): kills={KILLS} "
            f"after {delays}s, tasks={len(expected)} {dict(statuses)}, "
            f"attempt outcomes {dict(outcomes)}, "
            f"retried={sum(t['attempt'] > 1 for t in tasks.values())}, "
            f"wall={time.monotonic() - started:.1f}s"
        )
        assert len(expected) >= MIN_TASKS, f"too few tasks flowed: {len(expected)}"
        assert stored == set(expected), (
            f"tasks stored but never acknowledged to the submitter: {len(stored - set(expected))}"
            " (a resent submission made a second task)"
        )
        assert statuses == {"completed": len(expected)}, statuses
        problems = exactly_once_per_task(tasks, expected)
        assert not problems, f"seed {seed}:\n" + "\n".join(problems[:10])
        assert all(w.alive for w in c.workers.values()), "a worker gave up on the server"
