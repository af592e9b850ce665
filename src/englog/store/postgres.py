"""PostgreSQL implementation of `Store` (DESIGN "Storage"), for several server replicas
sharing one database.

Every method is one transaction on a pooled asyncpg connection. Replicas coordinate
through row locks, never through memory: claims take `FOR UPDATE SKIP LOCKED` so two
replicas never lease one task; the reaper and result reports lock the rows they end,
and every attempt-ending UPDATE is fenced on (status, attempt), so a requeue and a
result racing across replicas produce exactly one winner. Whatever makes tasks
claimable sends `NOTIFY englog_tasks` in its own transaction; each store LISTENs on a
dedicated connection and wakes its process's listeners when another replica did so.
Schema migrations run at open() under a transaction-scoped advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from englog.domain.entries import Entry, EntryFields, check_times
from englog.domain.tasks import (
    DEFAULT_MAX_REASSIGNMENTS,
    AttemptOutcome,
    Disposition,
    NewTask,
    ReportedResult,
    ResultDecision,
    RetryBackoff,
    Task,
    TaskAttempt,
    TaskStatus,
    check_transition,
    next_status_after_failure,
)
from englog.domain.tokens import new_id
from englog.store.base import (
    DEFAULT_DEADLINE_GRACE_S,
    Claim,
    EntryQuery,
    HeartbeatReply,
    IdempotencyKeyReused,
    LostWorkers,
    Session,
    Store,
    StoreClosed,
    StoreError,
    User,
    WorkerInfo,
    WorkerRecord,
)
from englog.store.rules import (
    as_datetime,
    attempt_from_row,
    check_entry_changes,
    entry_from_row,
    fits_claim,
    instant,
    judge,
    migration_files,
    plain,
    session_from_row,
    take_back,
    target_for,
    task_from_row,
    worker_from_row,
)

log = structlog.get_logger("englog.store.postgres")

CHANNEL = "englog_tasks"
POOL_SIZE = 10
CONNECT_TIMEOUT_S = 10.0
LISTEN_RETRY_MAX_S = 5.0
# Any constant works; it only has to be the same for every englog process.
_MIGRATION_LOCK = 0x656E_676C_6F67  # "englog"
_MIGRATION_FILE = re.compile(r"^postgres_(\d+)_[\w-]+\.sql$")
_BACKEND_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

Record = asyncpg.Record


# --- migrations ------------------------------------------------------------------------


async def _migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations in one transaction; the advisory lock makes replicas
    that start together take turns, and the later ones find nothing left to do."""
    applied = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at double precision NOT NULL)"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, script in migration_files(_MIGRATION_FILE):
            if version in done:
                continue
            await conn.execute(script)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                version,
                name,
                time.time(),
            )
            applied.append(name)
    return applied


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# --- row conversion ---------------------------------------------------------------------


_task = task_from_row
_attempt = attempt_from_row
_entry = entry_from_row
_worker = worker_from_row
_session = session_from_row


def _claim_order(row: Record) -> tuple[int, float, int]:
    return (-row["priority"], row["created_at"], row["seq"])


# --- entries ---------------------------------------------------------------------------


def _entry_columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("start_time", "end_time"):
            moment = as_datetime(value, name)
            columns[name] = moment.isoformat()
            columns[name.replace("_time", "_ts")] = instant(moment)
        elif name == "tags":
            columns["tags"] = list(value)
        else:
            columns[name] = plain(value)
    return columns


_INSERT_ENTRIES = """
INSERT INTO entries (id, user_id, title, description, type, project, tags, start_time,
    end_time, start_ts, end_ts, value_rating, impact_level, created_at, updated_at)
SELECT e.id, $1, e.title, e.description, e.type, e.project, e.tags::jsonb, e.start_time,
    e.end_time, e.start_ts, e.end_ts, e.value_rating, e.impact_level, $2, $2
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::text[], $11::float8[], $12::float8[], $13::text[], $14::text[])
    AS e(id, title, description, type, project, tags, start_time, end_time, start_ts,
         end_ts, value_rating, impact_level)
RETURNING *
"""


def _entry_arrays(entries: Sequence[EntryFields]) -> tuple[list[str], list[list[Any]]]:
    ids = [new_id() for _ in entries]
    columns: list[list[Any]] = [[] for _ in range(11)]
    for fields in entries:
        values = (
            fields.title,
            fields.description,
            plain(fields.type),
            fields.project,
            json.dumps(list(fields.tags)),
            fields.start_time.isoformat(),
            fields.end_time.isoformat(),
            instant(fields.start_time),
            instant(fields.end_time),
            plain(fields.value_rating),
            plain(fields.impact_level),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return ids, columns


# --- tasks -----------------------------------------------------------------------------

# $10..$12: NULLs for PENDING tasks; a worker, its lease expiry and the start time for
# tasks inserted already RUNNING (`submit_and_claim`).
_INSERT_TASKS = """
INSERT INTO tasks (id, user_id, type, payload, status, priority, attempt, max_attempts,
    timeout_s, created_at, updated_at, run_after, metadata, worker_id, lease_expires_at,
    started_at)
SELECT t.id, t.user_id, t.type, t.payload::jsonb,
    CASE WHEN $10::text IS NULL THEN 'pending' ELSE 'running' END, t.priority, 1,
    t.max_attempts, t.timeout_s, $1, $1, $1, t.metadata::jsonb, $10::text,
    $11::float8, $12::float8
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
    $8::float8[], $9::text[]) WITH ORDINALITY
    AS t(id, user_id, type, payload, priority, max_attempts, timeout_s, metadata, n)
ORDER BY t.n
RETURNING *
"""

# Is a PENDING task of one of these types ready to be claimed?
_ANY_CLAIMABLE = """
SELECT EXISTS (SELECT 1 FROM tasks WHERE status = 'pending' AND type = ANY($1::text[])
    AND run_after <= $2 AND NOT cancel_requested) AS found
"""

# Each type's best candidates (at most its capacity), locked and skipped by concurrent
# claimers, merged in global order and cut at the limit: the same set a greedy pick over
# the whole queue would take, at index cost per type. Rows locked but cut stay locked
# only until this statement's transaction ends.
_CLAIM = """
WITH caps AS (
    SELECT * FROM unnest($1::text[], $2::int[]) AS c(type, take)
), picked AS (
    SELECT p.seq FROM caps CROSS JOIN LATERAL (
        SELECT seq, priority, created_at FROM tasks
        WHERE status = 'pending' AND type = caps.type AND run_after <= $3
            AND NOT cancel_requested
        ORDER BY priority DESC, created_at, seq
        LIMIT caps.take
        FOR UPDATE SKIP LOCKED
    ) p
    ORDER BY p.priority DESC, p.created_at, p.seq
    LIMIT $4
), claimed AS (
    UPDATE tasks SET status = 'running', worker_id = $5, lease_expires_at = $6,
        started_at = $3, updated_at = $3, progress = 0, progress_message = NULL
    FROM picked WHERE tasks.seq = picked.seq AND tasks.status = 'pending'
    RETURNING tasks.*
), opened AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
    SELECT id, attempt, $5, $3 FROM claimed
    ON CONFLICT (task_id, attempt) DO UPDATE SET worker_id = excluded.worker_id,
        started_at = excluded.started_at, ended_at = NULL, outcome = NULL, error = NULL
)
SELECT * FROM claimed
"""


@dataclass(frozen=True, slots=True)
class _End:
    """How one RUNNING attempt ends (see `_END_ATTEMPTS`)."""

    task_id: str
    attempt: int
    target: TaskStatus
    outcome: AttemptOutcome
    error: str | None
    attempt_error: str | None = None  # the attempt record's error, when not `error`
    result: Any = None
    accepted_worker: str | None = None
    run_after: float = 0.0
    reassigned: bool = False  # taken back from its worker, not failed


# PENDING means a new attempt after backoff; anything else is terminal. Fenced on
# (status, attempt) so a racing replica's change wins or loses as a whole; the attempt
# record of each changed task is closed in the same statement.
_END_ATTEMPTS = """
WITH c AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::float8[], $9::int[], $10::text[], $11::text[])
        AS c(id, attempt, status, error, result, accepted_worker, run_after, reassigned,
             outcome, attempt_error)
), ended AS (
    UPDATE tasks AS t SET
        status = c.status,
        attempt = CASE WHEN c.status = 'pending' THEN t.attempt + 1 ELSE t.attempt END,
        run_after = CASE WHEN c.status = 'pending' THEN c.run_after ELSE t.run_after END,
        worker_id = CASE WHEN c.status = 'pending' THEN NULL ELSE t.worker_id END,
        progress = CASE WHEN c.status = 'pending' THEN 0
                        WHEN c.status = 'completed' THEN 100 ELSE t.progress END,
        progress_message = CASE WHEN c.status = 'pending' THEN NULL
                                ELSE t.progress_message END,
        result = CASE WHEN c.status = 'pending' THEN NULL ELSE c.result::jsonb END,
        completed_at = CASE WHEN c.status = 'pending' THEN t.completed_at ELSE $1 END,
        lease_expires_at = NULL,
        error = c.error,
        updated_at = $1,
        reassignments = t.reassignments + c.reassigned,
        accepted_attempt = CASE WHEN c.accepted_worker IS NULL THEN t.accepted_attempt
                                ELSE t.attempt END,
        accepted_worker = COALESCE(c.accepted_worker, t.accepted_worker)
    FROM c
    WHERE t.id = c.id AND t.status = 'running' AND t.attempt = c.attempt
    RETURNING t.*
), closed AS (
    UPDATE task_attempts AS a SET ended_at = $1, outcome = c.outcome,
        error = COALESCE(c.attempt_error, c.error)
    FROM c
    WHERE a.task_id = c.id AND a.attempt = c.attempt AND a.ended_at IS NULL
        AND c.id IN (SELECT id FROM ended)
)
SELECT * FROM ended
"""


async def _end_attempts(conn: asyncpg.Connection, ends: Sequence[_End], now: float) -> list[Task]:
    if not ends:
        return []
    for end in ends:
        check_transition(TaskStatus.RUNNING, end.target)
    rows = await conn.fetch(
        _END_ATTEMPTS,
        now,
        [e.task_id for e in ends],
        [e.attempt for e in ends],
        [str(e.target) for e in ends],
        [e.error for e in ends],
        [None if e.result is None else json.dumps(e.result) for e in ends],
        [e.accepted_worker for e in ends],
        [e.run_after for e in ends],
        [int(e.reassigned) for e in ends],
        [str(e.outcome) for e in ends],
        [e.attempt_error for e in ends],
    )
    order = {e.task_id: i for i, e in enumerate(ends)}
    tasks = sorted((_task(row) for row in rows), key=lambda t: order[t.id])
    if any(t.status is TaskStatus.PENDING for t in tasks):
        await _notify(conn)
    return tasks


async def _finals(
    conn: asyncpg.Connection, updated: Sequence[Task], watched: Collection[str]
) -> dict[str, tuple[Task, tuple[TaskAttempt, ...]]]:
    """The watched tasks among `updated` that finished, with their attempt records, as
    this transaction leaves them (see Store.report_results)."""
    done = {t.id: t for t in updated if t.status.terminal and t.id in watched}
    if not done:
        return {}
    rows = await conn.fetch(
        "SELECT * FROM task_attempts WHERE task_id = ANY($1::text[]) ORDER BY task_id, attempt",
        list(done),
    )
    attempts: dict[str, list[TaskAttempt]] = {task_id: [] for task_id in done}
    for row in rows:
        attempts[row["task_id"]].append(_attempt(row))
    return {task_id: (task, tuple(attempts[task_id])) for task_id, task in done.items()}


async def _notify(conn: asyncpg.Connection) -> None:
    """Delivered to every listener when (and only if) the transaction commits."""
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


def _take_back(
    row: Mapping[str, Any],
    reason: str,
    outcome: AttemptOutcome,
    run_after: float,
    max_reassignments: int,
) -> _End:
    """A reassignment (base.py "Taking a task back"): not the task's failure, capped."""
    target, error = take_back(row, reason, max_reassignments)
    return _End(
        row["id"],
        row["attempt"],
        target,
        outcome,
        error,
        attempt_error=reason,
        run_after=run_after,
        reassigned=target is TaskStatus.PENDING,
    )


def _expired_end(
    row: Mapping[str, Any],
    backoff: RetryBackoff,
    now: float,
    max_reassignments: int,
    deadline_grace_s: float,
) -> _End:
    """A passed deadline is the attempt's failure; a lapsed lease is a reassignment."""
    run_after = now + backoff.delay(row["attempt"])
    if row["started_at"] + row["timeout_s"] + deadline_grace_s < now:
        error = f"deadline of {row['timeout_s']:g}s passed (worker {row['worker_id']})"
        if row["cancel_requested"]:
            target = TaskStatus.CANCELLED
        else:
            target = next_status_after_failure(
                row["attempt"], row["max_attempts"], True, row["reassignments"]
            )
        return _End(
            row["id"], row["attempt"], target, AttemptOutcome.TIMED_OUT, error, run_after=run_after
        )
    reason = f"lease expired (worker {row['worker_id']})"
    return _take_back(row, reason, AttemptOutcome.EXPIRED, run_after, max_reassignments)


def _decide(
    result: ReportedResult,
    rows: dict[str, dict[str, Any]],
    backoff: RetryBackoff,
    now: float,
) -> tuple[ResultDecision, _End | None]:
    """Judge one result against the locked row, and update that in-memory row so a
    second copy of the result in the same report is judged a duplicate."""

    row = rows.get(result.task_id)
    refused = judge(result, row)
    if refused is not None:
        return refused, None
    assert row is not None
    target = target_for(result, row)
    error = None if target is TaskStatus.COMPLETED else (result.error or str(result.outcome))
    end = _End(
        result.task_id,
        row["attempt"],
        target,
        AttemptOutcome(str(result.outcome)),
        error,
        result=result.result,
        accepted_worker=result.worker_id,
        run_after=now + backoff.delay(row["attempt"]),
    )
    row.update(
        status=str(target),
        accepted_attempt=row["attempt"],
        accepted_worker=result.worker_id,
    )
    if target is TaskStatus.PENDING:
        row.update(attempt=row["attempt"] + 1, worker_id=None)
    return ResultDecision(result.task_id, result.attempt, Disposition.ACCEPTED, target), end


_REGISTER = """
INSERT INTO workers (id, name, capabilities, version, metadata, max_concurrency,
    registered_at, last_heartbeat_at, status, capacity, session_token_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 'ready', $8, $9)
ON CONFLICT (id) DO UPDATE SET name = excluded.name,
    capabilities = excluded.capabilities, version = excluded.version,
    metadata = excluded.metadata, max_concurrency = excluded.max_concurrency,
    registered_at = excluded.registered_at, last_heartbeat_at = excluded.last_heartbeat_at,
    status = 'ready', capacity = excluded.capacity,
    session_token_hash = excluded.session_token_hash
"""


async def _insert_tasks(
    conn: asyncpg.Connection,
    tasks: Sequence[NewTask],
    now: float,
    *,
    notify: bool = True,
    lease: Claim | None = None,
) -> list[Task]:
    """PENDING tasks; or, with `lease`, tasks RUNNING for its worker from the start
    (each with its attempt record), as if inserted and claimed at once."""
    if lease is not None:
        check_transition(TaskStatus.PENDING, TaskStatus.RUNNING)
    worker_id = lease.worker_id if lease else None
    expires = now + lease.lease_ttl_s if lease else None
    rows = await conn.fetch(
        _INSERT_TASKS,
        now,
        [new_id() for _ in tasks],
        [t.user_id for t in tasks],
        [t.type for t in tasks],
        [json.dumps(t.payload) for t in tasks],
        [t.priority for t in tasks],
        [t.max_attempts for t in tasks],
        [t.timeout_s for t in tasks],
        [json.dumps(dict(t.metadata)) for t in tasks],
        worker_id,
        expires,
        now if lease else None,
    )
    if lease is not None:
        await conn.execute(
            "INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)"
            " SELECT id, 1, $2, $3 FROM unnest($1::text[]) AS t(id)",
            [row["id"] for row in rows],
            lease.worker_id,
            now,
        )
    if notify:
        await _notify(conn)
    return [_task(row) for row in sorted(rows, key=lambda r: r["seq"])]


async def _claim(conn: asyncpg.Connection, claim: Claim, now: float) -> list[Task]:
    limit = claim.limit
    takes = {t: min(int(free), limit) for t, free in claim.capacity.items() if int(free) > 0}
    if limit <= 0 or not takes:
        return []
    check_transition(TaskStatus.PENDING, TaskStatus.RUNNING)
    rows = await conn.fetch(
        _CLAIM,
        list(takes),
        list(takes.values()),
        now,
        limit,
        claim.worker_id,
        now + claim.lease_ttl_s,
    )
    return [_task(row) for row in sorted(rows, key=_claim_order)]


async def _renew(
    conn: asyncpg.Connection,
    worker_id: str,
    lease_ttl_s: float,
    now: float,
    task_ids: Sequence[str] | None,
) -> list[str]:
    """Rows are locked in `seq` order, as report_results locks them, so a heartbeat and
    a report of the same worker never deadlock; a row being reported right now is
    skipped (its lease no longer matters)."""
    where = "worker_id = $2 AND status = 'running'"
    args: list[Any] = [now + lease_ttl_s, worker_id]
    if task_ids is not None:
        where += " AND id = ANY($3::text[])"
        args.append(list(task_ids))
    rows = await conn.fetch(
        "UPDATE tasks SET lease_expires_at = GREATEST(COALESCE(lease_expires_at, 0), $1)"
        f" WHERE seq IN (SELECT seq FROM tasks WHERE {where} ORDER BY seq FOR UPDATE SKIP LOCKED)"
        " RETURNING id, cancel_requested",
        *args,
    )
    return sorted(row["id"] for row in rows if row["cancel_requested"])


async def _heartbeat(
    conn: asyncpg.Connection,
    token_hash: str,
    status: str,
    stats: Mapping[str, Any],
    capacity: Mapping[str, int],
    now: float,
) -> Session | None:
    row = await conn.fetchrow(
        "UPDATE sessions SET last_heartbeat_at = $1 WHERE token_hash = $2 RETURNING *",
        now,
        token_hash,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE workers SET last_heartbeat_at = $1, status = $2, stats = $3, capacity = $4"
        " WHERE id = $5",
        now,
        status,
        dict(stats),
        dict(capacity),
        row["worker_id"],
    )
    return _session(row)


# --- LISTEN ------------------------------------------------------------------------------


class _Listener:
    """One dedicated connection LISTENing on CHANNEL; reconnects with capped backoff.
    After each (re)connect the callbacks run once, since notifications sent while the
    connection was down are lost."""

    def __init__(self, dsn: str, callbacks: list[Callable[[], None]]) -> None:
        self._dsn = dsn
        self._callbacks = callbacks
        self._lost = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="englog-pg-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect()
                delay = 0.1
                self._fire()
                await self._lost.wait()
                log.warning("listen_connection_lost")
            except _BACKEND_ERRORS as exc:
                log.warning("listen_connect_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(LISTEN_RETRY_MAX_S, delay * 2)
            finally:
                self.connected.clear()
                await self._drop()

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_S)
        self._conn = conn
        conn.add_termination_listener(lambda _c: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        self.connected.set()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()  # no round trip: the connection may be half dead

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self._fire()

    def _fire(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception as exc:  # one bad listener must not stop the others
                log.error("task_listener_failed", error=repr(exc))


# --- the store ---------------------------------------------------------------------------


class PostgresStore(Store):
    """`Store` on PostgreSQL; safe for several processes sharing one database."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._listener: _Listener | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._closed = False

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
                init=_init_connection,
                timeout=CONNECT_TIMEOUT_S,
            )
        except (*_BACKEND_ERRORS, ValueError) as exc:
            raise StoreError(f"cannot open PostgreSQL store {self._safe_url}: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                applied = await _migrate(conn)
        except _BACKEND_ERRORS as exc:
            await pool.close()
            raise StoreError(f"PostgreSQL migration failed: {exc}") from exc
        if applied:
            log.info("migrations_applied", names=applied)
        self._pool = pool
        self._listener = _Listener(self.url, self._callbacks)
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
        except _BACKEND_ERRORS as exc:
            raise StoreError(f"PostgreSQL operation failed: {exc}") from exc

    async def _fetch(self, sql: str, *args: Any) -> list[Record]:
        try:
            return await self._live_pool().fetch(sql, *args)
        except _BACKEND_ERRORS as exc:
            raise StoreError(f"PostgreSQL read failed: {exc}") from exc

    async def _fetchrow(self, sql: str, *args: Any) -> Record | None:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None

    # --- users ----------------------------------------------------------------
    async def create_user(self, name: str, token_hash: str, now: float) -> User:
        user = User(id=new_id(), name=name, created_at=now)
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO users (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
                user.id,
                name,
                token_hash,
                now,
            )
        return user

    async def user_by_token_hash(self, token_hash: str) -> User | None:
        row = await self._fetchrow(
            "SELECT id, name, created_at FROM users WHERE token_hash = $1", token_hash
        )
        return None if row is None else User(row["id"], row["name"], row["created_at"])

    # --- entries ----------------------------------------------------------------
    async def add_entries(
        self, user_id: str, entries: Sequence[EntryFields], now: float
    ) -> list[Entry]:
        if not entries:
            return []
        ids, columns = _entry_arrays(entries)
        async with self._tx() as conn:
            rows = await conn.fetch(_INSERT_ENTRIES, user_id, now, ids, *columns)
        position = {entry_id: i for i, entry_id in enumerate(ids)}
        return [_entry(row) for row in sorted(rows, key=lambda r: position[r["id"]])]

    async def get_entry(self, user_id: str, entry_id: str) -> Entry | None:
        row = await self._fetchrow(
            "SELECT * FROM entries WHERE id = $1 AND user_id = $2", entry_id, user_id
        )
        return None if row is None else _entry(row)

    async def get_entries(self, user_id: str, entry_ids: Sequence[str]) -> list[Entry]:
        rows = await self._fetch(
            "SELECT * FROM entries WHERE user_id = $1 AND id = ANY($2::text[])"
            " ORDER BY start_ts, id",
            user_id,
            list(dict.fromkeys(entry_ids)),
        )
        return [_entry(row) for row in rows]

    async def list_entries(self, user_id: str, query: EntryQuery) -> list[Entry]:
        where, args = ["user_id = $1"], [user_id]
        for clause, value in (
            ("end_ts > {}", None if query.start is None else instant(query.start)),
            ("start_ts < {}", None if query.end is None else instant(query.end)),
            ("type = {}", None if query.type is None else plain(query.type)),
            ("project = {}", query.project),
        ):
            if value is not None:
                args.append(value)
                where.append(clause.format(f"${len(args)}"))
        sql = (
            f"SELECT * FROM entries WHERE {' AND '.join(where)} ORDER BY start_ts, id"
            f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        )
        rows = await self._fetch(sql, *args, max(0, query.limit), max(0, query.offset))
        return [_entry(row) for row in rows]

    async def update_entry(
        self, user_id: str, entry_id: str, changes: Mapping[str, Any], now: float
    ) -> Entry | None:
        changes = dict(changes)
        check_entry_changes(changes)
        async with self._tx() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM entries WHERE id = $1 AND user_id = $2 FOR UPDATE",
                entry_id,
                user_id,
            )
            if row is None:
                return None
            start = as_datetime(changes.get("start_time", row["start_time"]), "start_time")
            end = as_datetime(changes.get("end_time", row["end_time"]), "end_time")
            check_times(start, end)
            columns = _entry_columns(changes) | {"updated_at": now}
            assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, 3))
            updated = await conn.fetchrow(
                f"UPDATE entries SET {assignments} WHERE id = $1 AND user_id = $2 RETURNING *",
                entry_id,
                user_id,
                *columns.values(),
            )
            return _entry(updated)  # validates the merged entry; a bad value rolls back

    async def delete_entry(self, user_id: str, entry_id: str) -> bool:
        async with self._tx() as conn:
            status = await conn.execute(
                "DELETE FROM entries WHERE id = $1 AND user_id = $2", entry_id, user_id
            )
        return status != "DELETE 0"

    # --- tasks ----------------------------------------------------------------
    async def submit_tasks(self, tasks: Sequence[NewTask], now: float) -> list[Task]:
        if not tasks:
            return []
        async with self._tx() as conn:
            return await _insert_tasks(conn, tasks, now)

    async def submit_idempotent(
        self, task: NewTask, key: str, fingerprint: str, ttl_s: float, now: float
    ) -> tuple[Task, bool]:
        scope = task.user_id or ""
        async with self._tx() as conn:
            # Two replicas given the same key at once take turns here.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                f"{len(scope)}:{scope}:{key}",
            )
            found = await conn.fetchrow(
                "SELECT k.fingerprint, k.created_at AS key_created_at, t.*"
                " FROM idempotency_keys k JOIN tasks t ON t.id = k.task_id"
                " WHERE k.scope = $1 AND k.key = $2",
                scope,
                key,
            )
            if found is not None and found["key_created_at"] >= now - ttl_s:
                if found["fingerprint"] != fingerprint:
                    raise IdempotencyKeyReused(key, found["id"])
                return _task(found), False
            [stored] = await _insert_tasks(conn, [task], now)
            await conn.execute(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, task_id, created_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, key) DO UPDATE SET"
                " fingerprint = excluded.fingerprint, task_id = excluded.task_id,"
                " created_at = excluded.created_at",
                scope,
                key,
                fingerprint,
                stored.id,
                now,
            )
            return stored, True

    async def get_task(self, task_id: str, user_id: str | None = None) -> Task | None:
        if user_id is None:
            row = await self._fetchrow("SELECT * FROM tasks WHERE id = $1", task_id)
        else:
            row = await self._fetchrow(
                "SELECT * FROM tasks WHERE id = $1 AND user_id = $2", task_id, user_id
            )
        return None if row is None else _task(row)

    async def list_tasks(
        self,
        user_id: str | None,
        status: TaskStatus | None = None,
        type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Task]:
        where, args = ["true"], []
        for column, value in (("user_id", user_id), ("status", status), ("type", type)):
            if value is not None:
                args.append(str(value))
                where.append(f"{column} = ${len(args)}")
        sql = (
            f"SELECT * FROM tasks WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC, seq DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        )
        rows = await self._fetch(sql, *args, max(0, limit), max(0, offset))
        return [_task(row) for row in rows]

    async def claim_tasks(
        self,
        worker_id: str,
        capacity: Mapping[str, int],
        limit: int,
        lease_ttl_s: float,
        now: float,
    ) -> list[Task]:
        if limit <= 0 or not any(int(free) > 0 for free in capacity.values()):
            return []
        async with self._tx() as conn:
            return await _claim(conn, Claim(worker_id, capacity, limit, lease_ttl_s), now)

    async def submit_and_claim(
        self, tasks: Sequence[NewTask], now: float, claim: Claim
    ) -> tuple[list[Task], list[Task]]:
        """Tasks that fit the claim with nothing claimable ahead of them are inserted
        already leased. Anything else is inserted PENDING and left to the streams' own
        claims: here, concurrent submissions claiming in their insert's transaction
        would contend for the same rows (measured: batch throughput -10 %)."""
        if not tasks:
            return [], []
        async with self._tx() as conn:
            if fits_claim(tasks, claim) and not await conn.fetchval(
                _ANY_CLAIMABLE, list({t.type for t in tasks}), now
            ):
                # One row write per task, and no row locks taken from concurrent claims.
                leased = await _insert_tasks(conn, tasks, now, notify=False, lease=claim)
                return leased, leased
            return await _insert_tasks(conn, tasks, now), []

    async def renew_leases(
        self,
        worker_id: str,
        lease_ttl_s: float,
        now: float,
        task_ids: Sequence[str] | None = None,
    ) -> list[str]:
        async with self._tx() as conn:
            return await _renew(conn, worker_id, lease_ttl_s, now, task_ids)

    async def requeue_tasks(
        self,
        worker_id: str,
        task_ids: Sequence[str],
        reason: str,
        now: float,
        *,
        max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
        attempts: Mapping[str, int] | None = None,
    ) -> list[Task]:
        if not task_ids:
            return []
        async with self._tx() as conn:
            rows = await conn.fetch(
                "SELECT * FROM tasks WHERE status = 'running' AND worker_id = $1"
                " AND id = ANY($2::text[]) ORDER BY seq FOR UPDATE",
                worker_id,
                list(task_ids),
            )
            ends = [
                _take_back(row, reason, AttemptOutcome.LOST, now, max_reassignments)
                for row in rows
                # Fenced: a newer attempt of it runs now, not ours to take back.
                if attempts is None or attempts.get(row["id"]) == row["attempt"]
            ]
            return await _end_attempts(conn, ends, now)

    async def update_progress(
        self,
        task_id: str,
        attempt: int,
        worker_id: str,
        percent: float,
        message: str | None,
        lease_ttl_s: float,
        now: float,
    ) -> bool:
        percent = min(100.0, max(0.0, float(percent)))
        async with self._tx() as conn:
            status = await conn.execute(
                "UPDATE tasks SET progress = $1, progress_message = COALESCE($2, progress_message),"
                " lease_expires_at = GREATEST(COALESCE(lease_expires_at, 0), $3), updated_at = $4"
                " WHERE id = $5 AND attempt = $6 AND worker_id = $7 AND status = 'running'",
                percent,
                message,
                now + lease_ttl_s,
                now,
                task_id,
                attempt,
                worker_id,
            )
        return status == "UPDATE 1"

    async def report_results(
        self,
        results: Sequence[ReportedResult],
        backoff: RetryBackoff,
        now: float,
        *,
        watched: Collection[str] = (),
    ) -> list[ResultDecision]:
        if not results:
            return []
        async with self._tx() as conn:
            # Waits (no SKIP LOCKED) for a racing reaper or report: the fence must
            # judge the row as the winner left it. Locked in seq order: no deadlocks.
            locked = await conn.fetch(
                "SELECT * FROM tasks WHERE id = ANY($1::text[]) ORDER BY seq FOR UPDATE",
                list({r.task_id for r in results}),
            )
            rows = {row["id"]: dict(row) for row in locked}
            decisions, ends = [], []
            for result in results:
                decision, end = _decide(result, rows, backoff, now)
                decisions.append(decision)
                if end is not None:
                    ends.append(end)
            updated = await _end_attempts(conn, ends, now)
            finals = await _finals(conn, updated, watched)
        if len(updated) != len(ends):  # impossible while the rows are locked
            raise StoreError("result report lost a race it should have been locked against")
        if not finals:
            return decisions
        return [
            dataclasses.replace(d, final=finals[d.task_id])
            if d.disposition is Disposition.ACCEPTED and d.task_id in finals
            else d
            for d in decisions
        ]

    async def requeue_expired(
        self,
        backoff: RetryBackoff,
        now: float,
        *,
        max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
        deadline_grace_s: float = DEFAULT_DEADLINE_GRACE_S,
    ) -> list[Task]:
        async with self._tx() as conn:
            # SKIP LOCKED: a row another replica is reaping (or a result is being
            # reported for) is that transaction's to decide.
            rows = await conn.fetch(
                "SELECT * FROM tasks WHERE status = 'running'"
                " AND (lease_expires_at < $1 OR started_at + timeout_s + $2 < $1)"
                " ORDER BY lease_expires_at, seq FOR UPDATE SKIP LOCKED",
                now,
                deadline_grace_s,
            )
            ends = [
                _expired_end(row, backoff, now, max_reassignments, deadline_grace_s) for row in rows
            ]
            return await _end_attempts(conn, ends, now)

    async def reap_lost_workers(
        self,
        silent_since: float,
        backoff: RetryBackoff,
        now: float,
        *,
        max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
    ) -> LostWorkers:
        async with self._tx() as conn:
            # Deleting the session row locks it: a second replica reaping at the same
            # time finds it gone, so each dead worker is reaped once.
            dead = sorted(
                {
                    row["worker_id"]
                    for row in await conn.fetch(
                        "DELETE FROM sessions WHERE last_heartbeat_at < $1 RETURNING worker_id",
                        silent_since,
                    )
                }
            )
            if not dead:
                return LostWorkers([], [])
            await conn.execute(
                "UPDATE workers SET status = 'offline', session_token_hash = NULL"
                " WHERE id = ANY($1::text[])",
                dead,
            )
            rows = await conn.fetch(
                "SELECT * FROM tasks WHERE status = 'running' AND worker_id = ANY($1::text[])"
                " ORDER BY seq FOR UPDATE",
                dead,
            )
            ends = [
                _take_back(
                    row,
                    f"worker {row['worker_id']} went silent",
                    AttemptOutcome.LOST,
                    now + backoff.delay(row["attempt"]),
                    max_reassignments,
                )
                for row in rows
            ]
            tasks = await _end_attempts(conn, ends, now)
        by_worker = {worker_id: i for i, worker_id in enumerate(dead)}
        worker_of = {end.task_id: row["worker_id"] for end, row in zip(ends, rows, strict=True)}
        tasks.sort(key=lambda t: by_worker[worker_of[t.id]])
        return LostWorkers(dead, tasks)

    async def extend_running_leases(self, lease_ttl_s: float, now: float) -> int:
        async with self._tx() as conn:
            status = await conn.execute(
                "UPDATE tasks SET lease_expires_at = $1 WHERE status = 'running'"
                " AND (lease_expires_at IS NULL OR lease_expires_at < $1)",
                now + lease_ttl_s,
            )
            await conn.execute(
                "UPDATE sessions SET last_heartbeat_at = $1 WHERE last_heartbeat_at < $1", now
            )
        return int(status.split()[-1])

    async def cancel_task(self, task_id: str, user_id: str | None, now: float) -> Task | None:
        async with self._tx() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM tasks WHERE id = $1 AND ($2::text IS NULL OR user_id = $2)"
                " FOR UPDATE",
                task_id,
                user_id,
            )
            if row is None:
                return None
            status = TaskStatus(row["status"])
            if status is TaskStatus.PENDING:
                check_transition(status, TaskStatus.CANCELLED)
                row = await conn.fetchrow(
                    "UPDATE tasks SET status = 'cancelled', cancel_requested = true,"
                    " completed_at = $1, updated_at = $1 WHERE id = $2 RETURNING *",
                    now,
                    task_id,
                )
            elif status is TaskStatus.RUNNING and not row["cancel_requested"]:
                row = await conn.fetchrow(
                    "UPDATE tasks SET cancel_requested = true, updated_at = $1"
                    " WHERE id = $2 RETURNING *",
                    now,
                    task_id,
                )
            return _task(row)

    async def running_tasks(self, worker_id: str) -> list[Task]:
        rows = await self._fetch(
            "SELECT * FROM tasks WHERE worker_id = $1 AND status = 'running'"
            " ORDER BY started_at, seq",
            worker_id,
        )
        return [_task(row) for row in rows]

    async def task_attempts(self, task_id: str) -> list[TaskAttempt]:
        rows = await self._fetch(
            "SELECT * FROM task_attempts WHERE task_id = $1 ORDER BY attempt", task_id
        )
        return [_attempt(row) for row in rows]

    async def pending_by_type(self) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT type, COUNT(*) AS n FROM tasks"
            " WHERE status = 'pending' AND NOT cancel_requested GROUP BY type ORDER BY type"
        )
        return {row["type"]: row["n"] for row in rows}

    async def prune_finished(self, finished_before: float, limit: int) -> int:
        """Attempt records and idempotency keys go with their task (ON DELETE CASCADE)."""
        async with self._tx() as conn:
            rows = await conn.fetch(
                "DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks"
                " WHERE completed_at IS NOT NULL AND completed_at < $1"
                " AND status IN ('completed', 'failed', 'cancelled')"
                " ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING seq",
                finished_before,
                max(0, limit),
            )
        return len(rows)

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
        row = await self._fetchrow(_ANY_CLAIMABLE, list(types), now)
        return bool(row is not None and row["found"])

    # --- workers and sessions -------------------------------------------------------
    async def register_worker(self, info: WorkerInfo, session_token_hash: str, now: float) -> None:
        capacity = {capability: info.max_concurrency for capability in info.capabilities}
        async with self._tx() as conn:
            await conn.execute(
                _REGISTER,
                info.id,
                info.name,
                list(info.capabilities),
                info.version,
                dict(info.metadata),
                info.max_concurrency,
                now,
                capacity,
                session_token_hash,
            )
            await conn.execute("DELETE FROM sessions WHERE worker_id = $1", info.id)
            await conn.execute(
                "INSERT INTO sessions (token_hash, worker_id, created_at, last_heartbeat_at)"
                " VALUES ($1, $2, $3, $3)",
                session_token_hash,
                info.id,
                now,
            )

    async def get_session(self, token_hash: str) -> Session | None:
        row = await self._fetchrow("SELECT * FROM sessions WHERE token_hash = $1", token_hash)
        return None if row is None else _session(row)

    async def heartbeat(
        self,
        token_hash: str,
        status: str,
        stats: Mapping[str, Any],
        capacity: Mapping[str, int],
        now: float,
    ) -> Session | None:
        async with self._tx() as conn:
            return await _heartbeat(conn, token_hash, status, stats, capacity, now)

    async def heartbeat_and_renew(
        self,
        token_hash: str,
        status: str,
        stats: Mapping[str, Any],
        capacity: Mapping[str, int],
        lease_ttl_s: float,
        now: float,
        task_ids: Sequence[str] | None = None,
    ) -> HeartbeatReply | None:
        """One transaction instead of the default's two: a heartbeat is the most
        frequent write a worker makes."""
        async with self._tx() as conn:
            session = await _heartbeat(conn, token_hash, status, stats, capacity, now)
            if session is None:
                return None
            cancel = await _renew(conn, session.worker_id, lease_ttl_s, now, task_ids)
        return HeartbeatReply(session, cancel)

    async def list_workers(self) -> list[WorkerRecord]:
        rows = await self._fetch("SELECT * FROM workers ORDER BY registered_at, id")
        return [_worker(row) for row in rows]

    async def get_worker(self, worker_id: str) -> WorkerRecord | None:
        row = await self._fetchrow("SELECT * FROM workers WHERE id = $1", worker_id)
        return None if row is None else _worker(row)
