"""The outbox under fire (issue 27): a worker with an outbox is SIGKILLed again and again
at random moments while echo tasks flow, and restarted on the same outbox file.

- `commit`: its acknowledgements come back 100 ms late (a slow proxy) while results
  linger 5 ms, so every result is committed to the outbox before its ack and deleted
  after: kills land before, during and after those commits.
- `linger`: a 0.5 s linger outlasts the late ack, so results are usually never written:
  kills land inside the linger window, where a result lives only in memory.

Either way a result arrives exactly once (delivered from the outbox after the restart)
or its task runs again (the server saw the worker go silent): never lost, never doubled.
The verdict is read task by task from the stored attempts."""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.runs import (
    ECHO_HANDLERS,
    Submitter,
    all_tasks,
    exactly_once_per_task,
    outbox_rows,
    start_worker,
    wait_all_terminal,
)
from tests.support.procs import Cluster, cluster
from tests.support.proxy import ThreadedProxy

pytestmark = pytest.mark.timeout(240)

KILLS = 4
ACK_DELAY_S = 0.1
LINGER = {"commit": "0.005", "linger": "0.5"}


def restart_w1(c: Cluster, proxy: ThreadedProxy, outbox: Path, linger: str) -> None:
    start_worker(
        c,
        "w1",
        "--outbox",
        str(outbox),
        "--outbox-linger",
        linger,
        *ECHO_HANDLERS,
        server=proxy.target,
        concurrency=8,
    )
    c.wait_workers_connected("w1")


@pytest.mark.parametrize("window", ["commit", "linger"])
def test_worker_sigkilled_mid_commit_or_in_its_linger_loses_and_doubles_nothing(
    tmp_path: Path, window: str, say: Callable[[str], None]
) -> None:
    seed = secrets.randbits(32)
    rng = random.Random(seed)
    started = time.monotonic()
    outbox = tmp_path / "w1.outbox"
    rows_at_kill: list[int] = []
    with cluster(tmp_path, lease_ttl=5.0, heartbeat=0.5) as c:
        c.start_server()
        with ThreadedProxy(c.grpc_port) as proxy:
            proxy.set_latency(ACK_DELAY_S)
            restart_w1(c, proxy, outbox, LINGER[window])
            # A steady second worker, direct: the work goes on while w1 is down.
            start_worker(c, "w2", *ECHO_HANDLERS, concurrency=4)
            c.wait_workers_connected("w2")
            assert c.server is not None
            submitter = Submitter(c.server.url, rng)
            submitter.start()
            try:
                for _ in range(KILLS):
                    # The chaos schedule (random on purpose), bounded; not a state wait.
                    submitter.stop.wait(rng.uniform(0.3, 2.0))
                    assert submitter.is_alive(), "the submitter ran out before the kills did"
                    rows_at_kill.append(outbox_rows(outbox))
                    c.workers["w1"].kill()
                    restart_w1(c, proxy, outbox, LINGER[window])
            finally:
                expected = submitter.finish()
            with c.admin() as api:
                tasks = wait_all_terminal(api, list(expected), timeout=120, interval=0.5)
                stored = set(all_tasks(api))
    outcomes = Counter(a["outcome"] for t in tasks.values() for a in t["attempts"])
    statuses = Counter(t["status"] for t in tasks.values())
    say(
        f"[chaos] outbox under fire ({window}, seed {seed}): w1 SIGKILLs={KILLS}, "
        f"outbox rows at each kill {rows_at_kill}, tasks={len(expected)} {dict(statuses)}, "
        f"attempt outcomes {dict(outcomes)}, "
        f"retried={sum(t['attempt'] > 1 for t in tasks.values())}, "
        f"wall={time.monotonic() - started:.1f}s"
    )
    assert len(expected) >= 20 * KILLS, f"too few tasks flowed: {len(expected)}"
    assert stored == set(expected), "a resent submission made a second task"
    assert statuses == {"completed": len(expected)}, statuses
    problems = exactly_once_per_task(tasks, expected)
    assert not problems, f"seed {seed}:\n" + "\n".join(problems[:10])
    if window == "commit":
        assert any(rows_at_kill), f"no kill found results in the outbox: {rows_at_kill}"
