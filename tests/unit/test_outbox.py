"""The worker's outbox: durable across reopen, group commit, remembered identity."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from englog.domain.tasks import ResultOutcome
from englog.worker.outbox import Outbox, OutboxError
from englog.worker.runner import FinishedResult


def result(i: int, attempt: int = 1) -> FinishedResult:
    return FinishedResult(
        task_id=f"t{i}",
        attempt=attempt,
        outcome=ResultOutcome.COMPLETED if i % 2 else ResultOutcome.FAILED,
        result=b'{"i": %d}' % i,
        error="" if i % 2 else f"boom {i}",
        retriable=bool(i % 3),
        started_at=1000.0 + i,
        finished_at=1001.5 + i,
    )


async def test_results_survive_reopen_in_order_and_acknowledged_ones_do_not(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "outbox.db")
    box = Outbox(path)
    assert box.open() == []
    await box.commit([result(i) for i in range(5)], [])
    await box.commit([result(5)], [("t1", 1), ("t3", 1)])
    await box.close()

    again = Outbox(path)
    left = again.open()
    assert [r.key for r in left] == [("t0", 1), ("t2", 1), ("t4", 1), ("t5", 1)]
    assert left[0] == result(0)  # every field round-trips
    await again.close()


async def test_concurrent_commits_share_transactions(tmp_path: Path) -> None:
    box = Outbox(str(tmp_path / "o.db"))
    box.open()
    await asyncio.gather(*(box.commit([result(i)], []) for i in range(200)))
    assert box.commits < 200  # callers that arrive during a commit join the next one
    await box.close()
    reopened = Outbox(str(tmp_path / "o.db"))
    assert len(reopened.open()) == 200
    await reopened.close()


async def test_same_attempt_written_twice_keeps_the_latest(tmp_path: Path) -> None:
    box = Outbox(str(tmp_path / "o.db"))
    box.open()
    await box.commit([result(1)], [])
    replaced = FinishedResult("t1", 1, ResultOutcome.FAILED, error="refused", retriable=False)
    await box.commit([replaced], [])
    await box.close()
    again = Outbox(str(tmp_path / "o.db"))
    assert again.open() == [replaced]
    await again.close()


async def keys_after_reopen(path: str) -> list[tuple[str, int]]:
    box = Outbox(path)
    try:
        return [r.key for r in box.open()]
    finally:
        await box.close()


async def test_a_put_and_a_remove_of_one_key_in_one_commit_leave_it_removed(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "o.db")
    box = Outbox(path)
    box.open()
    await box.commit([result(1), result(2)], [("t1", 1)])  # puts first, then removes
    await box.close()
    assert await keys_after_reopen(path) == [("t2", 1)]


async def test_calls_sharing_a_batch_keep_their_order_per_key(tmp_path: Path) -> None:
    """Group commit must not reorder: a remove after a put removes it; a put after a
    remove (the same attempt saved again) is kept."""
    path = str(tmp_path / "o.db")
    box = Outbox(path)
    box.open()
    await box.commit([result(1), result(2)], [])
    # Gathered before the writer runs: all five calls share one transaction.
    await asyncio.gather(
        box.commit([result(3)], []),
        box.commit([], [("t3", 1)]),  # after its put: removed
        box.commit([], [("t1", 1)]),
        box.commit([result(1)], []),  # after its remove: kept
        box.commit([], [("t2", 1)]),
    )
    assert box.commits == 2
    await box.close()
    assert await keys_after_reopen(path) == [("t1", 1)]


async def test_memory_outbox_keeps_nothing() -> None:
    box = Outbox(None)
    assert not box.durable
    assert box.open() == []
    await box.commit([result(1)], [])
    assert box.commits == 0
    await box.close()


async def test_worker_id_is_remembered(tmp_path: Path) -> None:
    path = str(tmp_path / "o.db")
    assert Outbox.remembered_worker_id(path) is None
    box = Outbox(path)
    box.open()
    box.remember_worker_id("w-7")
    await box.close()
    assert Outbox.remembered_worker_id(path) == "w-7"


def test_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutboxError, match="cannot open outbox"):
        Outbox(str(tmp_path / "file" / "o.db")).open()


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "o.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError, match="cannot open outbox"):
        Outbox(str(bad)).open()


_WRITER = """
import asyncio, sys
from englog.domain.tasks import ResultOutcome
from englog.worker.outbox import Outbox
from englog.worker.runner import FinishedResult

async def main() -> None:
    box = Outbox(sys.argv[1])
    box.open()
    await box.commit(
        [FinishedResult(f"t{i}", 1, ResultOutcome.COMPLETED, b"{}") for i in range(50)], []
    )
    print("committed", flush=True)
    await asyncio.sleep(60)  # killed here, the connection still open

asyncio.run(main())
"""


def test_a_commit_survives_a_sigkill_right_after_it(tmp_path: Path) -> None:
    """synchronous=NORMAL keeps the README's promise (the worker's process dying),
    without an fsync per commit: a commit is in the WAL file when it returns."""
    path = str(tmp_path / "o.db")
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, path], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "committed"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert len(asyncio.run(keys_after_reopen(path))) == 50
