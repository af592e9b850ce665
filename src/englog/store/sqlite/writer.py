"""SQLite's group-commit writer (DESIGN "Storage").

With synchronous=FULL one fsync costs far more than the statements it covers, so one
writer thread owns the only write connection and commits whatever writes have gathered
in one transaction (group commit). Each write runs inside its own SAVEPOINT, so one
failing operation fails only its caller. Callers are answered only after COMMIT."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from englog.store.base import StoreClosed, StoreError

T = TypeVar("T")

MAX_BATCH = 512  # operations per group-commit transaction
# A write arriving this long after the previous one commits on the event loop itself.
QUIET_S = 0.001
# The writer thread checkpoints the WAL into the database after this many commits
# (SQLite's own automatic checkpoint is off: it would run inside whichever commit
# crosses the threshold, and that may be one on the event loop).
CHECKPOINT_EVERY = 200


@dataclass(slots=True)
class _WriteOp:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    value: Any = None
    error: BaseException | None = None


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled; the write still happened
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


# Queued to wake the writer thread with no write for it (see `CHECKPOINT_EVERY`).
_WAKE: Any = object()


class GroupCommitWriter:
    """One thread, one connection, one transaction per gathered batch of writes.

    A write that finds the store quiet (no write submitted, and no inline commit ended,
    for `QUIET_S`; none queued, none running) commits at once on the caller's thread,
    the event loop: it would have no company to share its commit with, and the hop to
    the writer thread and back costs about 0.15 ms, half a commit, on the path of every
    single-task round trip. Measured side by side: round trip p50 -0.3 ms, with single
    submissions under load unchanged (their writes arrive far closer together and keep
    going through the thread). Quiet counts from the end of the last inline commit too:
    counted from its start, a commit slower than `QUIET_S` (a loaded disk) sent every
    write of a burst inline, one commit each with the loop stopped, and nothing was ever grouped."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        setup: Callable[[sqlite3.Connection], None],
        quiet_s: float | None = QUIET_S,
    ) -> None:
        self._connect = connect
        self._quiet_s = quiet_s
        self._setup = setup
        self._queue: queue.SimpleQueue[_WriteOp | None] = queue.SimpleQueue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, name="englog-sqlite-writer", daemon=True)
        # Held by whichever thread runs a batch on the connection; `_conn` is set while
        # the writer thread serves.
        self._busy = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._last_write = 0.0  # the last write submitted, or inline commit ended
        self._since_checkpoint = 0
        self.commits = 0
        self.operations = 0

    async def start(self) -> None:
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        if self._stopped.done():
            raise StoreClosed("the SQLite writer has stopped")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        op = _WriteOp(fn, loop, future)
        now = time.monotonic()
        quiet = self._quiet_s is not None and now - self._last_write >= self._quiet_s
        self._last_write = now
        if quiet and self._queue.empty() and self._busy.acquire(blocking=False):
            try:
                if self._conn is not None:
                    self.operations += 1
                    self._run_batch(self._conn, [op], inline=True)
                    # Quiet counts from the end of this commit: the loop stood still
                    # while it ran, so writes arriving right after it are its company.
                    self._last_write = time.monotonic()
                    if self._since_checkpoint >= CHECKPOINT_EVERY:
                        self._queue.put(_WAKE)  # the writer thread checkpoints, not the loop
                    return future
            finally:
                self._busy.release()
        self._queue.put(op)
        return future

    async def stop(self) -> None:
        """Let every write queued so far commit, then end the thread."""
        self._queue.put(None)
        await asyncio.wrap_future(self._stopped)

    def _main(self) -> None:
        try:
            conn = self._connect()
            try:
                self._setup(conn)
            except BaseException:
                conn.close()
                raise
        except BaseException as exc:
            self._ready.set_exception(exc)
            self._stopped.set_result(None)
            return
        self._conn = conn
        self._ready.set_result(None)
        try:
            self._serve(conn)
        finally:
            conn.close()
            self._fail_leftovers()
            self._stopped.set_result(None)

    def _serve(self, conn: sqlite3.Connection) -> None:
        while True:
            batch, stop = self._gather()
            with self._busy:
                if batch:
                    self.operations += len(batch)
                    self._run_batch(conn, batch)
                if self._since_checkpoint >= CHECKPOINT_EVERY:
                    self._checkpoint(conn)
            if stop:
                with self._busy:
                    self._conn = None
                return

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy the WAL into the database (PASSIVE: readers are never waited for)."""
        self._since_checkpoint = 0
        with contextlib.suppress(sqlite3.Error):  # a busy database: next time
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _gather(self) -> tuple[list[_WriteOp], bool]:
        batch: list[_WriteOp] = []
        item = self._queue.get()
        while True:
            if item is None:
                return batch, True
            if item is not _WAKE:
                batch.append(item)
            if len(batch) >= MAX_BATCH:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _run_batch(
        self, conn: sqlite3.Connection, batch: list[_WriteOp], inline: bool = False
    ) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._answer(batch, exc, inline=inline)
            return
        if len(batch) == 1:
            applied = self._apply_alone(conn, batch[0], inline)
        else:
            applied = self._apply_each(conn, batch, inline)
        if not applied:
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            rollback(conn)
            self._answer(batch, exc, inline=inline)
            return
        self.commits += 1
        self._since_checkpoint += 1
        self._answer(batch, inline=inline)

    def _apply_each(self, conn: sqlite3.Connection, batch: list[_WriteOp], inline: bool) -> bool:
        """Run every op of the batch in its own savepoint; False when one aborted the
        whole transaction (everything is then answered here, and the ops after it run
        in a transaction of their own)."""
        for index, op in enumerate(batch):
            if not self._apply(conn, op):
                # The whole transaction is gone: earlier work was rolled back with it.
                lost = StoreError("write lost: another operation aborted its transaction")
                self._answer(batch[:index], lost, inline=inline)
                self._answer([op], op.error, inline=inline)
                if index + 1 < len(batch):
                    self._run_batch(conn, batch[index + 1 :], inline)
                return False
        return True

    def _apply_alone(self, conn: sqlite3.Connection, op: _WriteOp, inline: bool) -> bool:
        """Run the one op of a transaction, without a savepoint (two statements less):
        its failure rolls the whole transaction back and is answered here (False)."""
        try:
            op.value = op.fn(conn)
            return True
        except Exception as exc:
            op.value, op.error = None, exc
        rollback(conn)
        self._answer([op], inline=inline)
        return False

    @staticmethod
    def _apply(conn: sqlite3.Connection, op: _WriteOp) -> bool:
        """Run one op in a savepoint; False when the enclosing transaction was lost."""
        try:
            conn.execute("SAVEPOINT op")
            op.value = op.fn(conn)
            conn.execute("RELEASE op")
            return True
        except Exception as exc:
            op.value, op.error = None, exc
        if not conn.in_transaction:
            return False
        try:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        except sqlite3.Error:
            rollback(conn)
            return False
        return True

    @staticmethod
    def _answer(
        ops: Sequence[_WriteOp], error: BaseException | None = None, *, inline: bool = False
    ) -> None:
        for op in ops:
            outcome = error if error is not None else op.error
            if inline:  # on the caller's own loop: settle now, no wake-up needed
                _settle(op.future, op.value, outcome)
                continue
            # RuntimeError: the caller's loop is closed, so nobody is waiting.
            with contextlib.suppress(RuntimeError):
                op.loop.call_soon_threadsafe(_settle, op.future, op.value, outcome)

    def _fail_leftovers(self) -> None:
        leftovers: list[_WriteOp] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and item is not _WAKE:
                leftovers.append(item)
        self._answer(leftovers, StoreClosed("the SQLite writer has stopped"))
