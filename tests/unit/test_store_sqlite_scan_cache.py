"""Counting a deep queue (the pending recount every minute, /health, /metrics) scans a
whole index; through the read connection's usual 2 MB page cache that scan left the
server's RSS 2.3 MB higher for good (issue 26: the bench's 100,000-task backlog)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from englog.domain.tasks import NewTask
from englog.store import SQLiteStore

T0 = 1_700_000_000.0
QUEUED = 100_000


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _queue_copies(path: Path, task_id: str, n: int) -> None:
    """`n` PENDING copies of one task, written in one statement (the store's own
    submissions would take a minute here)."""
    with sqlite3.connect(path) as conn:
        columns = ", ".join(
            row[1]
            for row in conn.execute("PRAGMA table_info(tasks)")
            if row[1] not in {"seq", "id"}
        )
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            f" INSERT INTO tasks (id, {columns}) SELECT lower(hex(randomblob(16))), {columns}"
            " FROM n, tasks WHERE tasks.id = ?",
            (n, task_id),
        )


async def test_counting_a_deep_queue_does_not_fill_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "englog.db"
    store = SQLiteStore(path)
    await store.open()
    try:
        [first] = await store.submit_tasks([NewTask(type="noop", payload={})], T0)
        _queue_copies(path, first.id, QUEUED)
        usual = await store._read(lambda c: c.execute("PRAGMA cache_size").fetchone()[0])
        before = _resident_bytes()
        assert await store.pending_by_type() == {"noop": QUEUED + 1}
        assert await store.pending_count(now=T0 + 1) == QUEUED + 1
        grown = _resident_bytes() - before
        assert grown < 1024 * 1024, f"the count left {grown / 2**20:.1f} MB resident"
        # The connection's other reads keep their usual cache.
        assert await store._read(lambda c: c.execute("PRAGMA cache_size").fetchone()[0]) == usual
    finally:
        await store.close()
