"""The worker's outbox: finished results are written here behind their reports
(write-behind: the report never waits for the disk), and leave only when the server
has acknowledged them. A result acknowledged before its write began is never written
at all; the worker lets a new result linger (`--outbox-linger`, 5 ms) for its
acknowledgement first, so while the server answers that is the usual case (once one
outlasts its linger, every unacknowledged result is written in that commit: see
delivery.py). Otherwise it is in the file within
the linger and one commit of finishing, so a result the server cannot take survives an
outage of any length and a later crash (SIGKILL) of the worker, and is delivered from
here on the next start. The one window: a worker killed in those few milliseconds loses
the result, and the server runs the task again once its lease expires (at-least-once,
as after a crash during the task itself); nothing is lost.

The file is a small SQLite database (WAL, synchronous=NORMAL) written by one thread.
What it promises is what the README does: results survive the worker's process dying
(SIGKILL, a crash, OOM), not the machine losing power. In WAL mode a commit is in the
WAL file (the kernel's page cache) when it returns, which outlives the process; only
a power loss or kernel crash could drop the last commits (the file stays consistent).
synchronous=FULL would add an fsync per commit for that stronger claim: on a shared
disk it also delays the server's own fsyncs (measured: docs/benchmarks.md).

`put` and `remove` calls that arrive while a commit runs are gathered into the next
transaction (group commit), so a burst of results costs one commit, not one each. Order
is kept per key: a transaction runs its puts before its removes, and a put supersedes
a remove of its key queued earlier in the same batch, so a remove never overtakes the
put it follows. Without a path the outbox lives in memory: same interface, nothing
survives the process. The file also remembers the worker id, so a restarted worker
keeps its identity (the server fences results by worker and attempt)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from englog.domain.tasks import ResultOutcome
from englog.errors import EnglogError
from englog.private_files import private_sqlite
from englog.worker.runner import FinishedResult

Key = tuple[str, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    task_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    result BLOB NOT NULL,
    error TEXT NOT NULL,
    retriable INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (task_id, attempt)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class OutboxError(EnglogError):
    """The outbox file cannot be opened or written."""


@dataclass(slots=True)
class _Batch:
    puts: list[FinishedResult] = field(default_factory=list)
    removes: list[Key] = field(default_factory=list)
    done: asyncio.Future[None] | None = None


def _settle(batch: _Batch | None, error: Exception | None) -> None:
    if batch is None or batch.done is None or batch.done.done():
        return
    if error is None:
        batch.done.set_result(None)
    else:
        batch.done.set_exception(error)
        batch.done.exception()  # retrieved here: a cancelled waiter must not log it


class Outbox:
    """Durable results awaiting acknowledgement. All methods run on the event loop;
    the file is touched only by the writer thread."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._next: _Batch | None = None
        self._writing: asyncio.Task[None] | None = None
        self._seq = 0
        self.commits = 0

    @property
    def durable(self) -> bool:
        return self.path is not None

    # --- life cycle ---------------------------------------------------------------
    def open(self) -> list[FinishedResult]:
        """Open (creating it) and return what an earlier run left, oldest first."""
        if self.path is None:
            return []
        try:
            private_sqlite(self.path)  # results are users' data: 0600, folder 0700
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            rows = db.execute(
                "SELECT task_id, attempt, outcome, result, error, retriable, started_at,"
                " finished_at, seq FROM results ORDER BY seq"
            ).fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc
        self._db = db
        self._seq = max((row[8] for row in rows), default=0)
        return [
            FinishedResult(
                task_id=row[0],
                attempt=row[1],
                outcome=ResultOutcome(row[2]),
                result=bytes(row[3]),
                error=row[4],
                retriable=bool(row[5]),
                started_at=row[6],
                finished_at=row[7],
            )
            for row in rows
        ]

    async def close(self) -> None:
        while self._writing is not None:
            await asyncio.shield(self._writing)
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None

    # --- identity ---------------------------------------------------------------
    @staticmethod
    def remembered_worker_id(path: str | None) -> str | None:
        """The worker id an existing outbox file belongs to, so a restarted worker
        without --worker-id keeps its identity and its unreported results stay valid
        (the server fences results by worker and attempt)."""
        if path is None or not Path(path).expanduser().exists():
            return None
        try:
            with contextlib.closing(sqlite3.connect(path)) as db:
                row = db.execute("SELECT value FROM meta WHERE key = 'worker_id'").fetchone()
        except sqlite3.Error:
            return None
        return str(row[0]) if row else None

    def remember_worker_id(self, worker_id: str) -> None:
        if self._db is None:
            return
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('worker_id', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (worker_id,),
            )

    # --- writes -------------------------------------------------------------------
    async def commit(self, puts: Sequence[FinishedResult], removes: Sequence[Key]) -> None:
        """Save `puts` and forget `removes` in one transaction, puts first (a key in both
        ends up removed); returns once committed (at once in memory). Calls made during
        a commit share the next one, which starts after it: a remove submitted once a
        put's commit began always lands after that put."""
        if self._db is None or not (puts or removes):
            return
        await self._submit(puts, removes)

    async def _submit(
        self, puts: Sequence[FinishedResult] = (), removes: Sequence[Key] = ()
    ) -> None:
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = _Batch(done=loop.create_future())
        batch = self._next
        if puts and batch.removes:
            # Calls sharing a batch keep their order: this put supersedes an earlier
            # remove of its key (the transaction runs every put before every remove).
            saved = {r.key for r in puts}
            batch.removes = [key for key in batch.removes if key not in saved]
        batch.puts.extend(puts)
        batch.removes.extend(removes)
        assert batch.done is not None
        if self._writing is None:
            self._writing = asyncio.create_task(self._write_batches())
        await asyncio.shield(batch.done)

    async def _write_batches(self) -> None:
        """Commits batch after batch until nothing waits; callers that arrive during a
        commit join the next one."""
        batch: _Batch | None = None
        try:
            while self._next is not None:
                batch, self._next = self._next, None
                assert batch.done is not None
                try:
                    await asyncio.to_thread(self._commit, batch)
                except Exception as exc:
                    _settle(batch, OutboxError(f"outbox write failed ({self.path}): {exc}"))
                else:
                    _settle(batch, None)
        finally:
            self._writing = None
            # Cancelled mid-way (the loop is closing): nobody may wait forever.
            for left in (batch, self._next):
                _settle(left, OutboxError("outbox writer stopped before committing"))

    def _commit(self, batch: _Batch) -> None:
        rows = []
        for r in batch.puts:
            self._seq += 1
            rows.append(
                (
                    r.task_id,
                    r.attempt,
                    str(r.outcome),
                    r.result,
                    r.error,
                    int(r.retriable),
                    r.started_at,
                    r.finished_at,
                    self._seq,
                )
            )
        with self._lock:
            db = self._db
            if db is None:
                raise OutboxError("outbox is closed")
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
                db.executemany(
                    "DELETE FROM results WHERE task_id = ? AND attempt = ?", batch.removes
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self.commits += 1
