"""`SQLiteStore`: the `Store` on one SQLite file (DESIGN "Storage").

Writes go through the group-commit writer (`writer`). Reads use a second connection on
its own thread; in WAL mode they see the last commit and never wait for the writer.
Two exceptions run on the event loop, where the hop to a thread and back would cost
more than the work: key lookups (`_lookup`), and a write that arrives when the store has
been quiet for a millisecond (`GroupCommitWriter`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from englog.domain import Entry, EntryFields, NewTask, Task, TaskAttempt, TaskStatus
from englog.domain.attempts import deadline_grace
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import ReportedResult, ResultDecision
from englog.private_files import private_sqlite
from englog.store import records
from englog.store import sql as _sql
from englog.store.accounts import Conflict, conflict_field
from englog.store.base import InvalidData, Store, StoreClosed, StoreError
from englog.store.sql import PENDING_BY_TYPE
from englog.store.sqlite import attempts as _attempts
from englog.store.sqlite import entries as _entries
from englog.store.sqlite import tasks as _tasks
from englog.store.sqlite import workers as _workers
from englog.store.sqlite.calendar import SQLiteCalendar
from englog.store.sqlite.rows import attempt, entry, session, task, worker
from englog.store.sqlite.schema import (
    LOOKUP_BUSY_TIMEOUT_MS,
    connect,
    in_read_transaction,
    migrate,
    through_small_cache,
)
from englog.store.sqlite.web_sessions import SQLiteWebSessions
from englog.store.sqlite.writer import QUIET_S, GroupCommitWriter

T = TypeVar("T")

_DEFAULT_POLICY = QueuePolicy()


class SQLiteStore(SQLiteCalendar, SQLiteWebSessions, Store):
    """`Store` on one SQLite file. `commits` and `write_operations` count writer
    transactions and the operations they carried (group commit makes them differ)."""

    def __init__(
        self,
        path: str | Path,
        *,
        policy: QueuePolicy = _DEFAULT_POLICY,
        quiet_s: float | None = QUIET_S,
    ) -> None:
        """`quiet_s`: how long the store must have been without writes for the next
        one to commit on the event loop; None sends every write to the writer thread
        (tests that hold that thread use it)."""
        if str(path) in ("", ":memory:"):
            raise ValueError("SQLiteStore needs a file path: reads and writes use two connections")
        self.path = str(path)
        self.policy = policy
        self._quiet_s = quiet_s
        self._writer: GroupCommitWriter | None = None
        self._reader: concurrent.futures.ThreadPoolExecutor | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._lookup_conn: sqlite3.Connection | None = None
        self._closed = False
        self._closing: asyncio.Future[None] | None = None

    @property
    def commits(self) -> int:
        return self._writer.commits if self._writer else 0

    @property
    def write_operations(self) -> int:
        return self._writer.operations if self._writer else 0

    # --- life cycle -----------------------------------------------------------
    async def open(self) -> None:
        if self._closed:
            raise StoreClosed("store is closed")
        if self._writer is not None:
            return
        writer = GroupCommitWriter(
            lambda: connect(self.path, writer=True), migrate, quiet_s=self._quiet_s
        )
        reader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="englog-sqlite-read")
        started = False
        try:
            private_sqlite(self.path)  # 0600 (its WAL follows), folder 0700 when made
            await writer.start()
            started = True
            self._read_conn = await asyncio.get_running_loop().run_in_executor(
                reader, lambda: connect(self.path, writer=False)
            )
            self._lookup_conn = connect(
                self.path, writer=False, busy_timeout_ms=LOOKUP_BUSY_TIMEOUT_MS
            )
        except (sqlite3.Error, OSError) as exc:
            if started:
                await writer.stop()
            reader.shutdown(wait=False)
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._writer, self._reader = writer, reader

    async def close(self) -> None:
        self._closed = True
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._closing)

    async def _shutdown(self) -> None:
        if self._writer is not None:
            await self._writer.stop()  # the writer stays referenced for its counters
        reader, self._reader = self._reader, None
        conn, self._read_conn = self._read_conn, None
        lookup, self._lookup_conn = self._lookup_conn, None
        if lookup is not None:
            lookup.close()
        if reader is not None:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(reader, conn.close)
            reader.shutdown(wait=False)

    # --- plumbing -----------------------------------------------------------------
    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreClosed("store is closed")
        if self._writer is None:
            raise StoreError("store is not open; call open() first")
        try:
            return await self._writer.submit(fn)
        except _DATA_ERRORS as exc:
            raise _invalid(exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {exc}") from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreClosed("store is closed")
        if self._reader is None or self._read_conn is None:
            raise StoreError("store is not open; call open() first")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._reader, in_read_transaction, self._read_conn, fn
            )
        except _DATA_ERRORS as exc:
            raise _invalid(exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    async def _lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read by key, on the event loop's own thread: it costs about 30 µs, less
        than the hop to the reader thread and back (about 120 µs plus a loop wake-up),
        which is on the path of every `GET /v1/tasks/{id}`. Only for reads bounded by
        a key: anything that may scan goes through `_read`. A database busy past 5 ms
        (a checkpoint, recovery) sends the read to the reader thread instead."""
        if self._closed:
            raise StoreClosed("store is closed")
        conn = self._lookup_conn
        if conn is None:
            raise StoreError("store is not open; call open() first")
        try:
            return in_read_transaction(conn, fn)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreError(f"SQLite read failed: {exc}") from exc
        except _DATA_ERRORS as exc:
            raise _invalid(exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc
        return await self._read(fn)

    async def _scan(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read of a whole index, through a small page cache (`through_small_cache`)."""
        return await self._read(lambda conn: through_small_cache(conn, fn))

    async def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return await self._read(lambda conn: conn.execute(sql, args).fetchall())

    # --- users ----------------------------------------------------------------
    async def _account_rows(self, sql: str, *args: Any, lookup: bool = False) -> list[Any]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(sql, args).fetchall()

        return await (self._lookup(read) if lookup else self._read(read))

    async def _account_write(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        def write(conn: sqlite3.Connection) -> list[int]:
            try:
                return [conn.execute(sql, args).rowcount for sql, args in steps]
            except sqlite3.IntegrityError as exc:
                field = conflict_field(str(exc)) if "UNIQUE" in str(exc) else None
                if field is None:
                    raise
                raise Conflict(field) from exc

        return await self._write(write)

    # --- entries ----------------------------------------------------------------
    async def add_entries(
        self, user_id: str, entries: Sequence[EntryFields], now: float
    ) -> list[Entry]:
        return await self._write(lambda conn: _entries.insert_entries(conn, user_id, entries, now))

    async def get_entry(self, user_id: str, entry_id: str) -> Entry | None:
        found = await self.get_entries(user_id, [entry_id])
        return found[0] if found else None

    async def get_entries(self, user_id: str, entry_ids: Sequence[str]) -> list[Entry]:
        ids = list(dict.fromkeys(entry_ids))
        rows = await self._read(lambda conn: _entries.entry_rows(conn, user_id, ids, in_order=True))
        return [entry(row) for row in rows]

    async def list_entries(self, user_id: str, query: records.EntryQuery) -> list[Entry]:
        return await self._read(lambda conn: _entries.list_entries(conn, user_id, query))

    async def update_entry(
        self, user_id: str, entry_id: str, changes: Mapping[str, Any], now: float
    ) -> Entry | None:
        changes = dict(changes)
        return await self._write(
            lambda conn: _entries.update_entry(conn, user_id, entry_id, changes, now)
        )

    async def delete_entry(self, user_id: str, entry_id: str) -> bool:
        return await self._write(lambda conn: _entries.delete_entry(conn, user_id, entry_id))

    # --- tasks ----------------------------------------------------------------
    async def submit_tasks(self, tasks: Sequence[NewTask], now: float) -> list[Task]:
        tasks = list(tasks)
        return await self._write(lambda conn: _tasks.insert_tasks(conn, tasks, now))

    async def submit_and_claim(
        self, tasks: Sequence[NewTask], now: float, claim: records.Claim
    ) -> tuple[list[Task], list[Task]]:
        tasks, ttl = list(tasks), self.policy.lease_ttl_s
        claim = claim.capped(self.policy.max_running_per_user)

        def write(conn: sqlite3.Connection) -> tuple[list[Task], list[Task]]:
            if _tasks.leasable_at_once(conn, tasks, claim, now):
                # One row write per task instead of an insert and an update (each
                # touching every index of `tasks`): fewer WAL pages to sync.
                lease = records.Lease(claim.worker_id, now + ttl)
                leased = _tasks.insert_tasks(conn, tasks, now, lease)
                return leased, leased
            return _tasks.insert_tasks(conn, tasks, now), _tasks.claim(conn, claim, ttl, now)

        return await self._write(write)

    async def submit_idempotent(
        self, task: NewTask, key: str, fingerprint: str, ttl_s: float, now: float
    ) -> tuple[Task, bool]:
        return await self._write(
            lambda conn: _tasks.submit_idempotent(conn, task, key, fingerprint, ttl_s, now)
        )

    async def submit_keyed(
        self,
        items: Sequence[records.KeyedTask],
        ttl_s: float,
        now: float,
        claim: records.Claim | None = None,
    ) -> tuple[list[tuple[Task, bool]], list[Task]]:
        items, lease_ttl = list(items), self.policy.lease_ttl_s
        if claim is not None:
            claim = claim.capped(self.policy.max_running_per_user)
        return await self._write(
            lambda conn: _tasks.submit_keyed(conn, items, ttl_s, now, claim, lease_ttl)
        )

    async def get_task(self, task_id: str, user_id: str | None = None) -> Task | None:
        row = await self._lookup(lambda conn: _tasks.task_row(conn, task_id, user_id))
        return None if row is None else task(row)

    async def _list_tasks(self, query: records.TaskQuery) -> list[Task]:
        return await self._read(lambda conn: _tasks.list_tasks(conn, query))

    async def claim_tasks(self, claim: records.Claim, now: float) -> list[Task]:
        ttl = self.policy.lease_ttl_s
        claim = claim.capped(self.policy.max_running_per_user)
        return await self._write(lambda conn: _tasks.claim(conn, claim, ttl, now))

    async def _renew_leases(self, worker_id: str, now: float, ids: list[str] | None) -> list[str]:
        expires = now + self.policy.lease_ttl_s
        return await self._write(lambda conn: _tasks.renew(conn, worker_id, expires, ids))

    async def _requeue(self, lost: records.LostDeliveries, now: float) -> list[Task]:
        return await self._write(lambda conn: _attempts.requeue_lost(conn, lost, now, self.policy))

    async def _record_progress(self, progress: records.ProgressReport, now: float) -> bool:
        expires = now + self.policy.lease_ttl_s
        return await self._write(lambda conn: _tasks.update_progress(conn, progress, expires, now))

    async def _report(
        self, results: list[ReportedResult], now: float, watched: frozenset[str]
    ) -> list[ResultDecision]:
        policy = self.policy
        return await self._write(
            lambda conn: _attempts.decide_all(conn, results, now, policy, watched)
        )

    async def report_and_claim(
        self,
        results: Sequence[ReportedResult],
        now: float,
        claim: records.ClaimWithReport,
        *,
        watched: Collection[str] = (),
    ) -> tuple[list[ResultDecision], list[Task]]:
        policy, results, watched = self.policy, list(results), frozenset(watched)

        def write(conn: sqlite3.Connection) -> tuple[list[ResultDecision], list[Task]]:
            decisions = _attempts.decide_all(conn, results, now, policy, watched)
            after = claim.after(decisions).capped(policy.max_running_per_user)
            return decisions, _tasks.claim(conn, after, policy.lease_ttl_s, now)

        return await self._write(write)

    async def requeue_expired(self, now: float, *, enforce_deadlines: bool = True) -> list[Task]:
        policy = self.policy
        grace = deadline_grace(policy, enforce_deadlines)
        return await self._write(lambda conn: _attempts.requeue_expired(conn, now, policy, grace))

    async def reap_lost_workers(self, silent_since: float, now: float) -> records.LostWorkers:
        policy = self.policy
        return await self._write(
            lambda conn: _workers.reap_lost_workers(conn, silent_since, now, policy)
        )

    async def extend_running_leases(self, now: float) -> int:
        expires = now + self.policy.lease_ttl_s
        return await self._write(lambda conn: _tasks.extend_running_leases(conn, expires, now))

    async def cancel_task(self, task_id: str, user_id: str | None, now: float) -> Task | None:
        return await self._write(lambda conn: _tasks.cancel(conn, task_id, user_id, now))

    async def task_attempts(self, task_id: str) -> list[TaskAttempt]:
        rows = await self._read(lambda conn: _tasks.attempt_rows(conn, task_id))
        return [attempt(row) for row in rows]

    async def get_task_detail(
        self, task_id: str, user_id: str | None = None
    ) -> tuple[Task, list[TaskAttempt]] | None:
        def read(conn: sqlite3.Connection) -> tuple[Any, list[Any]] | None:
            row = _tasks.task_row(conn, task_id, user_id)
            return None if row is None else (row, _tasks.attempt_rows(conn, task_id))

        found = await self._lookup(read)
        if found is None:
            return None
        return task(found[0]), [attempt(a) for a in found[1]]

    async def get_task_details(
        self, task_ids: Sequence[str], user_id: str | None = None
    ) -> list[tuple[Task, list[TaskAttempt]]]:
        def read(conn: sqlite3.Connection) -> list[tuple[Any, list[Any]]]:
            rows, attempts = _tasks.rows_with_attempts(conn, task_ids, user_id)
            return [(rows[t], attempts.get(t, [])) for t in task_ids if t in rows]

        # A few keys cost less on the loop's thread than the hop (see `_lookup`); many
        # would hold the loop up, so they go to the reader thread, in one transaction.
        found = await (self._lookup if len(task_ids) <= 8 else self._read)(read)
        return [(task(row), [attempt(a) for a in attempts]) for row, attempts in found]

    async def task_statuses(
        self, task_ids: Sequence[str], user_id: str | None = None
    ) -> dict[str, TaskStatus]:
        if not task_ids:
            return {}
        sql = f"SELECT id, status FROM tasks WHERE id IN ({','.join('?' * len(task_ids))})"
        args = [*task_ids] if user_id is None else [*task_ids, user_id]
        if user_id is not None:
            sql += " AND user_id = ?"

        def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            return conn.execute(sql, args).fetchall()

        rows = await (self._lookup if len(task_ids) <= 8 else self._read)(read)
        return {row["id"]: TaskStatus(row["status"]) for row in rows}

    async def pending_by_type(self) -> dict[str, int]:
        rows = await self._scan(lambda conn: conn.execute(PENDING_BY_TYPE).fetchall())
        return {row["type"]: row["n"] for row in rows}

    async def prune_finished(self, finished_before: float, limit: int) -> int:
        return await self._write(lambda conn: _tasks.prune_finished(conn, finished_before, limit))

    async def running_tasks(self, worker_id: str) -> list[Task]:
        return [task(row) for row in await self._rows(_tasks.RUNNING_OF, worker_id)]

    async def pending_count(
        self, types: Sequence[str] | None = None, *, now: float | None = None
    ) -> int:
        """`now` (keyword, defaults to the wall clock) decides which tasks are ready."""
        if types is not None and not types:
            return 0
        moment = time.time() if now is None else now
        return await self._scan(lambda conn: _tasks.pending_count(conn, types, moment))

    async def has_pending(self, types: Sequence[str], *, now: float) -> bool:
        if not types:
            return False
        return await self._read(lambda conn: _tasks.any_claimable(conn, types, now))

    # --- workers and sessions -------------------------------------------------------
    async def register_worker(
        self, info: records.WorkerInfo, session_token_hash: str, now: float, identity: str = ""
    ) -> bool:
        return await self._write(
            lambda conn: _workers.register(conn, info, session_token_hash, now, identity)
        )

    async def unfinished_count(self, user_id: str) -> int:
        return int((await self._rows(_sql.UNFINISHED_COUNT, user_id))[0]["n"])

    async def create_worker_credential(self, worker_id: str, token_hash: str, now: float) -> None:
        await self._write(
            lambda conn: conn.execute(_sql.UPSERT_CREDENTIAL, (worker_id, token_hash, now))
        )

    async def worker_for_credential(self, token_hash: str) -> str | None:
        rows = await self._rows(_sql.CREDENTIAL_WORKER, token_hash)
        return str(rows[0]["worker_id"]) if rows else None

    async def has_worker_credential(self, worker_id: str) -> bool:
        return bool(await self._rows(_sql.HAS_CREDENTIAL, worker_id))

    async def list_worker_credentials(self) -> list[records.WorkerCredential]:
        return [records.WorkerCredential(*r) for r in await self._rows(_sql.CREDENTIALS)]

    async def revoke_worker_credential(self, worker_id: str, now: float) -> bool:
        return await self._write(lambda conn: _workers.revoke_credential(conn, worker_id, now))

    async def get_session(self, token_hash: str) -> records.Session | None:
        rows = await self._rows("SELECT * FROM sessions WHERE token_hash = ?", token_hash)
        return session(rows[0]) if rows else None

    async def heartbeat_and_renew(
        self, beat: records.Heartbeat, now: float
    ) -> records.HeartbeatReply | None:
        expires = now + self.policy.lease_ttl_s
        ids = None if beat.task_ids is None else list(beat.task_ids)
        # The write runs on the writer thread: it gets copies, not the caller's objects.
        beat = records.Heartbeat(
            beat.token_hash, beat.status, dict(beat.stats), dict(beat.capacity), ids
        )

        def beat_and_renew(conn: sqlite3.Connection) -> records.HeartbeatReply | None:
            found = _workers.heartbeat(conn, beat, now)
            if found is None:
                return None
            cancel = _tasks.renew(conn, found.worker_id, expires, beat.task_ids)
            return records.HeartbeatReply(found, cancel)

        return await self._write(beat_and_renew)

    async def list_workers(self) -> list[records.WorkerRecord]:
        rows = await self._rows("SELECT * FROM workers ORDER BY registered_at, id")
        return [worker(row) for row in rows]

    async def get_worker(self, worker_id: str) -> records.WorkerRecord | None:
        rows = await self._rows("SELECT * FROM workers WHERE id = ?", worker_id)
        return worker(rows[0]) if rows else None

    # --- the operators' overview ------------------------------------------------------
    async def task_counts(self) -> dict[tuple[str, str], int]:
        return {(r["status"], r["type"]): r["n"] for r in await self._rows(_sql.TASK_COUNTS)}

    async def _finished_by_minute(self, since: float, now: float) -> dict[tuple[int, str], int]:
        rows = await self._rows(_sql.FINISHED_BY_MINUTE, since, since, now)
        return {(r["minute"], r["status"]): r["n"] for r in rows}

    async def size_bytes(self) -> int | None:
        """The file and its write-ahead log (a checkpoint moves bytes between them)."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(self.path + suffix).st_size
        return total


# What SQLite refuses in a value itself (too big, an integer over 64 bits): the
# request's fault, as PostgreSQL's data exceptions are (postgres.store._translated).
_DATA_ERRORS = (sqlite3.DataError, OverflowError)


def _invalid(exc: BaseException) -> InvalidData:
    return InvalidData(f"SQLite refused a value of this request: {exc}")
