"""`PostgresStore`: the `Store` on PostgreSQL (DESIGN "Storage"), for several server
replicas sharing one database.

Every method is one transaction on a pooled asyncpg connection. Replicas coordinate
through row locks, never through memory: claims skip rows other replicas hold; the
reaper and result reports lock the rows they end, and every attempt-ending UPDATE is
fenced on (status, attempt). Whatever makes tasks claimable notifies every replica
(`listener`)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import structlog

from englog.domain import Entry, EntryFields, NewTask, Task, TaskAttempt, TaskStatus
from englog.domain.attempts import deadline_grace
from englog.domain.policy import QueuePolicy
from englog.ids import ordered_id
from englog.store import records
from englog.store import sql as _sql
from englog.store.accounts import Conflict, conflict_field
from englog.store.base import InvalidData, Store, StoreClosed, StoreError
from englog.store.postgres import attempts as _attempts
from englog.store.postgres import entries as _entries
from englog.store.postgres import reads as _reads
from englog.store.postgres import tasks as _tasks
from englog.store.postgres import workers as _workers
from englog.store.postgres.calendar import PostgresCalendar
from englog.store.postgres.credentials import PostgresWorkerCredentials
from englog.store.postgres.growth import GrowthReplanner
from englog.store.postgres.listener import (
    ACCOUNTS_CHANNEL,
    BACKEND_ERRORS,
    CONNECT_TIMEOUT_S,
    Listener,
)
from englog.store.postgres.pending import ANY_CLAIMABLE
from englog.store.postgres.reports import PostgresReports
from englog.store.postgres.schema import (
    init_connection,
    migrate,
    reset_connection,
    server_settings,
)
from englog.store.postgres.web_sessions import PostgresWebSessions
from englog.store.rows import (
    attempt_from_row,
    entry_from_row,
    session_from_row,
    task_from_row,
    worker_from_row,
)
from englog.store.sql import PENDING_BY_TYPE, numbered

log = structlog.get_logger("englog.store.postgres")

POOL_SIZE = 10
_DEFAULT_POLICY = QueuePolicy()


_PRUNE = """
WITH gone AS (
    DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks
        WHERE completed_at IS NOT NULL AND completed_at < $1
        AND status IN ('completed', 'failed', 'cancelled')
        ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING id
), attempts AS (
    DELETE FROM task_attempts WHERE task_id IN (SELECT id FROM gone)
), keys AS (
    DELETE FROM idempotency_keys WHERE task_id IN (SELECT id FROM gone)
)
SELECT count(*) AS n FROM gone
"""


class PostgresStore(
    PostgresReports, PostgresCalendar, PostgresWebSessions, PostgresWorkerCredentials, Store
):
    """`Store` on PostgreSQL; safe for several processes sharing one database."""

    def __init__(
        self, url: str, *, policy: QueuePolicy = _DEFAULT_POLICY, pool_size: int = POOL_SIZE
    ) -> None:
        """`pool_size`: the most connections this process keeps for queries (the
        LISTEN connection comes on top)."""
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self.policy = policy
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._closed = False
        self.growth = GrowthReplanner(lambda: self._live_pool().expire_connections())

    # --- life cycle -----------------------------------------------------------
    async def open(self) -> None:
        if self._closed:
            raise StoreClosed("store is closed")
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                init=init_connection,
                reset=reset_connection,
                server_settings=server_settings(self.url),
                timeout=CONNECT_TIMEOUT_S,
            )
        except (*BACKEND_ERRORS, ValueError) as exc:
            raise StoreError(f"cannot open PostgreSQL store {self._safe_url}: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                applied = await migrate(conn)
                await self.growth.start(conn)
        except BACKEND_ERRORS as exc:
            await pool.close()
            raise StoreError(f"PostgreSQL migration failed: {exc}") from exc
        if applied:
            log.info("migrations_applied", names=applied)
        self._pool = pool
        self._listener = Listener(self.url, self._callbacks, self._accounts_changed)
        self._listener.start()

    async def close(self) -> None:
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def add_task_listener(self, callback: Callable[[], None]) -> None:
        """Called on this process's event loop after any process (this one included)
        committed tasks that became PENDING."""
        self._callbacks.append(callback)

    async def wait_listening(self) -> None:
        """Until the LISTEN connection is up (notifications sent before are lost)."""
        if self._listener is None:
            raise StoreError("store is not open; call open() first")
        await self._listener.connected.wait()

    @property
    def _safe_url(self) -> str:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    # --- plumbing -----------------------------------------------------------------
    def _live_pool(self) -> asyncpg.Pool:
        if self._closed:
            raise StoreClosed("store is closed")
        if self._pool is None:
            raise StoreError("store is not open; call open() first")
        return self._pool

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction; committed before the caller is answered."""
        pool = self._live_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                yield conn
        except BACKEND_ERRORS as exc:
            raise _translated(exc, "operation") from exc

    async def _fetch(self, sql: str, *args: Any, what: str = "read") -> list[asyncpg.Record]:
        """One statement outside a transaction block: a write commits alone, durably."""
        try:
            return await self._live_pool().fetch(sql, *args)
        except BACKEND_ERRORS as exc:
            raise _translated(exc, what) from exc

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None

    async def _execute(self, sql: str, *args: Any) -> str:
        """One statement in its own transaction; returns its status ("UPDATE 1")."""
        async with self._tx() as conn:
            status: str = await conn.execute(sql, *args)
        return status

    # --- users ----------------------------------------------------------------
    _ANNOUNCE_ACCOUNTS = ((f"SELECT pg_notify('{ACCOUNTS_CHANNEL}', '')", ()),)

    async def _account_rows(self, sql: str, *args: Any, lookup: bool = False) -> list[Any]:
        return await self._fetch(_sql.numbered(sql), *args)

    async def _account_write(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        pool = self._live_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                if self._listener is not None:
                    self._listener.note_own(conn.get_server_pid())
                counts = []
                for sql, args in steps:
                    status: str = await conn.execute(_sql.numbered(sql), *args)
                    counts.append(int(status.rsplit(" ", 1)[-1]))
                return counts
        except asyncpg.UniqueViolationError as exc:
            field = conflict_field(exc.constraint_name or str(exc))
            if field is None:
                raise _translated(exc, "operation") from exc
            raise Conflict(field) from exc
        except BACKEND_ERRORS as exc:
            raise _translated(exc, "operation") from exc

    async def add_entries(
        self, user_id: str, entries: Sequence[EntryFields], now: float
    ) -> list[Entry]:
        if not entries:
            return []
        async with self._tx() as conn:
            return await _entries.insert_entries(conn, user_id, entries, now)

    async def get_entry(self, user_id: str, entry_id: str) -> Entry | None:
        row = await self._fetchrow(
            "SELECT * FROM entries WHERE id = $1 AND user_id = $2", entry_id, user_id
        )
        return None if row is None else entry_from_row(row)

    async def get_entries(self, user_id: str, entry_ids: Sequence[str]) -> list[Entry]:
        rows = await self._fetch(
            "SELECT * FROM entries WHERE user_id = $1 AND id = ANY($2::text[])"
            " ORDER BY start_ts, id",
            user_id,
            list(dict.fromkeys(entry_ids)),
        )
        return [entry_from_row(row) for row in rows]

    async def list_entries(self, user_id: str, query: records.EntryQuery) -> list[Entry]:
        sql, args = _entries.list_query(user_id, query)
        return [entry_from_row(row) for row in await self._fetch(sql, *args)]

    async def update_entry(
        self, user_id: str, entry_id: str, changes: Mapping[str, Any], now: float
    ) -> Entry | None:
        async with self._tx() as conn:
            return await _entries.update_entry(conn, user_id, entry_id, dict(changes), now)

    async def delete_entry(self, user_id: str, entry_id: str) -> bool:
        status = await self._execute(
            "DELETE FROM entries WHERE id = $1 AND user_id = $2", entry_id, user_id
        )
        return status != "DELETE 0"

    # --- tasks ----------------------------------------------------------------
    async def submit_tasks(self, tasks: Sequence[NewTask], now: float) -> list[Task]:
        if not tasks:
            return []
        return await self._insert(tasks, now, None)

    async def _insert(
        self, tasks: Sequence[NewTask], now: float, lease: records.Lease | None
    ) -> list[Task]:
        """New tasks in one statement, one round trip (`_tasks.submit_and_claim_args`):
        leased to `lease`'s worker when nothing claimable of their types waits."""
        ids = [ordered_id() for _ in tasks]
        sql, args = _tasks.submit_and_claim_args(tasks, ids, now, lease)
        rows = await self._fetch(sql, *args, what="write")
        await self.growth.wrote(len(rows))
        return _tasks.submitted(tasks, ids, rows, now, lease)[0]

    async def submit_idempotent(
        self, task: NewTask, key: str, fingerprint: str, ttl_s: float, now: float
    ) -> tuple[Task, bool]:
        async with self._tx() as conn:
            stored = await _tasks.submit_idempotent(conn, task, key, fingerprint, ttl_s, now)
        await self.growth.wrote(int(stored[1]))
        return stored

    async def submit_keyed(
        self,
        items: Sequence[records.KeyedTask],
        ttl_s: float,
        now: float,
        claim: records.Claim | None = None,
    ) -> tuple[list[tuple[Task, bool]], list[Task]]:
        if claim is not None:  # the per-user running cap decides as in `submit_and_claim`
            claim = claim.capped(self.policy.max_running_per_user)
        if not items:
            return [], []
        async with self._tx() as conn:
            stored = await _tasks.submit_keyed(
                conn, items, ttl_s, now, claim, self.policy.lease_ttl_s
            )
        await self.growth.wrote(sum(created for _, created in stored[0]))
        return stored

    async def get_task(self, task_id: str, user_id: str | None = None) -> Task | None:
        if user_id is None:
            row = await self._fetchrow("SELECT * FROM tasks WHERE id = $1", task_id)
        else:
            row = await self._fetchrow(
                "SELECT * FROM tasks WHERE id = $1 AND user_id = $2", task_id, user_id
            )
        return None if row is None else task_from_row(row)

    async def _list_tasks(self, query: records.TaskQuery) -> list[Task]:
        sql, args = _reads.list_query(query)
        return [task_from_row(row) for row in await self._fetch(sql, *args)]

    async def submit_and_claim(
        self, tasks: Sequence[NewTask], now: float, claim: records.Claim
    ) -> tuple[list[Task], list[Task]]:
        """Tasks that fit the claim with nothing claimable ahead of them are inserted
        already leased. Anything else is inserted PENDING and left to the streams' own
        claims: here, concurrent submissions claiming in their insert's transaction
        would contend for the same rows (measured: batch throughput -10 %)."""
        if not tasks:
            return [], []
        claim = claim.capped(self.policy.max_running_per_user)
        lease = None
        if claim.fits(tasks):
            lease = records.Lease(claim.worker_id, now + self.policy.lease_ttl_s)
        stored = await self._insert(tasks, now, lease)
        return stored, [t for t in stored if t.status is TaskStatus.RUNNING]

    async def _renew_leases(self, worker_id: str, now: float, ids: list[str] | None) -> list[str]:
        async with self._tx() as conn:
            return await _tasks.renew(conn, worker_id, now + self.policy.lease_ttl_s, ids)

    async def _requeue(self, lost: records.LostDeliveries, now: float) -> list[Task]:
        async with self._tx() as conn:
            return await _attempts.requeue_lost(conn, lost, now, self.policy)

    async def _record_progress(self, progress: records.ProgressReport, now: float) -> bool:
        status = await self._execute(
            "UPDATE tasks SET progress = $1, progress_message = COALESCE($2, progress_message),"
            " lease_expires_at = GREATEST(COALESCE(lease_expires_at, 0), $3), updated_at = $4"
            " WHERE id = $5 AND attempt = $6 AND worker_id = $7 AND status = 'running'",
            progress.percent,
            progress.message,
            now + self.policy.lease_ttl_s,
            now,
            progress.task_id,
            progress.attempt,
            progress.worker_id,
        )
        return status == "UPDATE 1"

    async def requeue_expired(self, now: float, *, enforce_deadlines: bool = True) -> list[Task]:
        grace = deadline_grace(self.policy, enforce_deadlines)
        async with self._tx() as conn:
            return await _attempts.requeue_expired(conn, now, self.policy, grace)

    async def reap_lost_workers(self, silent_since: float, now: float) -> records.LostWorkers:
        async with self._tx() as conn:
            return await _workers.reap_lost_workers(conn, silent_since, now, self.policy)

    async def extend_running_leases(self, now: float) -> int:
        async with self._tx() as conn:
            status = await conn.execute(
                "UPDATE tasks SET lease_expires_at = $1 WHERE status = 'running'"
                " AND (lease_expires_at IS NULL OR lease_expires_at < $1)",
                now + self.policy.lease_ttl_s,
            )
            await conn.execute(
                "UPDATE sessions SET last_heartbeat_at = $1 WHERE last_heartbeat_at < $1", now
            )
        return int(status.split()[-1])

    async def cancel_task(self, task_id: str, user_id: str | None, now: float) -> Task | None:
        async with self._tx() as conn:
            return await _tasks.cancel(conn, task_id, user_id, now)

    async def running_tasks(self, worker_id: str) -> list[Task]:
        return [task_from_row(row) for row in await self._fetch(_reads.RUNNING_OF, worker_id)]

    async def task_attempts(self, task_id: str) -> list[TaskAttempt]:
        rows = await self._fetch(
            "SELECT * FROM task_attempts WHERE task_id = $1 ORDER BY attempt", task_id
        )
        return [attempt_from_row(row) for row in rows]

    async def get_task_details(
        self, task_ids: Sequence[str], user_id: str | None = None
    ) -> list[tuple[Task, list[TaskAttempt]]]:
        if not task_ids:
            return []
        async with self._tx() as conn:
            return await _reads.details(conn, task_ids, user_id)

    async def task_statuses(
        self, task_ids: Sequence[str], user_id: str | None = None
    ) -> dict[str, TaskStatus]:
        if not task_ids:
            return {}
        rows = await self._fetch(_reads.STATUSES, list(task_ids), user_id)
        return {row["id"]: TaskStatus(row["status"]) for row in rows}

    async def pending_by_type(self) -> dict[str, int]:
        return {row["type"]: row["n"] for row in await self._fetch(PENDING_BY_TYPE)}

    async def prune_finished(self, finished_before: float, limit: int) -> int:
        """Attempt records and idempotency keys go with their task, in the same
        statement (no foreign key does it: migration 10)."""
        [pruned] = await self._fetch(_PRUNE, finished_before, max(0, limit), what="write")
        return int(pruned["n"])

    async def pending_count(
        self, types: Sequence[str] | None = None, *, now: float | None = None
    ) -> int:
        moment = time.time() if now is None else now
        if types is not None and not types:
            return 0
        row = await self._fetchrow(
            "SELECT COUNT(*) AS n FROM tasks WHERE status = 'pending' AND run_after <= $1"
            " AND NOT cancel_requested AND ($2::text[] IS NULL OR type = ANY($2::text[]))",
            moment,
            None if types is None else list(types),
        )
        return int(row["n"]) if row is not None else 0

    async def has_pending(self, types: Sequence[str], *, now: float) -> bool:
        if not types:
            return False
        row = await self._fetchrow(ANY_CLAIMABLE, list(types), now)
        return bool(row is not None and row["found"])

    # --- workers and sessions -------------------------------------------------------
    async def register_worker(
        self, info: records.WorkerInfo, session_token_hash: str, now: float, identity: str = ""
    ) -> bool:
        async with self._tx() as conn:
            return await _workers.register(conn, info, session_token_hash, now, identity)

    async def unfinished_count(self, user_id: str) -> int:
        row = await self._fetchrow(numbered(_sql.UNFINISHED_COUNT), user_id)
        return 0 if row is None else int(row["n"])

    async def revoke_worker_credential(self, worker_id: str, now: float) -> bool:
        async with self._tx() as conn:
            return await _workers.revoke_credential(conn, worker_id, now)

    async def get_session(self, token_hash: str) -> records.Session | None:
        row = await self._fetchrow("SELECT * FROM sessions WHERE token_hash = $1", token_hash)
        return None if row is None else session_from_row(row)

    async def heartbeat_and_renew(
        self, beat: records.Heartbeat, now: float
    ) -> records.HeartbeatReply | None:
        expires = now + self.policy.lease_ttl_s
        async with self._tx() as conn:
            session = await _workers.heartbeat(conn, beat, now)
            if session is None:
                return None
            cancel = await _tasks.renew(conn, session.worker_id, expires, beat.task_ids)
        return records.HeartbeatReply(session, cancel)

    async def list_workers(self) -> list[records.WorkerRecord]:
        rows = await self._fetch("SELECT * FROM workers ORDER BY registered_at, id")
        return [worker_from_row(row) for row in rows]

    async def get_worker(self, worker_id: str) -> records.WorkerRecord | None:
        row = await self._fetchrow("SELECT * FROM workers WHERE id = $1", worker_id)
        return None if row is None else worker_from_row(row)

    # --- the operators' overview ------------------------------------------------------
    async def task_counts(self) -> dict[tuple[str, str], int]:
        return {(r["status"], r["type"]): r["n"] for r in await self._fetch(_sql.TASK_COUNTS)}

    async def _finished_by_minute(self, since: float, now: float) -> dict[tuple[int, str], int]:
        rows = await self._fetch(_FINISHED_BY_MINUTE, since, since, now)
        return {(r["minute"], r["status"]): r["n"] for r in rows}

    async def size_bytes(self) -> int | None:
        row = await self._fetchrow("SELECT pg_database_size(current_database()) AS n")
        return int(row["n"]) if row is not None else None


_FINISHED_BY_MINUTE = numbered(_sql.FINISHED_BY_MINUTE)


def _translated(exc: BaseException, what: str) -> StoreError:
    """A data exception (SQLSTATE class 22: NUL in text, NaN in JSON, a value out of
    range) is the request's fault and fails the same way on every retry: InvalidData.
    Anything else (connection lost, server shutting down) may pass: StoreError."""
    if isinstance(exc, asyncpg.DataError):
        reason = " ".join(str(exc).split())  # asyncpg puts DETAIL on its own line
        return InvalidData(f"PostgreSQL refused a value of this request: {reason}")
    return StoreError(f"PostgreSQL {what} failed: {exc}")
