"""PostgreSQL task operations other than ending attempts (see `attempts`): submission,
claims, leases, cancellation and pruning, each on a connection inside a transaction.
Claims take `FOR UPDATE SKIP LOCKED`, so two replicas never lease one task."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from englog.domain.fairness import OVERFETCH, fair_pick
from englog.domain.tasks import NewTask, Task, TaskStatus, check_transition
from englog.ids import ordered_id
from englog.store.base import IdempotencyKeyReused
from englog.store.postgres.listener import CHANNEL
from englog.store.postgres.pending import pending_exists
from englog.store.records import Claim, KeyedTask, Lease
from englog.store.rows import inserted_task, task_from_row
from englog.store.sql import TASK_INSERT_COLUMNS

Record = asyncpg.Record

# `Store.submit_and_claim` in one statement, so in one round trip with no BEGIN or
# COMMIT of its own (a statement outside a transaction block commits alone, as
# durably): the tasks are inserted RUNNING for worker $10 (lease until $11, attempt
# record opened) unless $10 is NULL or a PENDING task of their types ($12) already waits,
# in which case they are inserted PENDING and the replicas notified. Four round trips
# less than the same work statement by statement.
_SUBMIT_AND_CLAIM = f"""
WITH lease AS (
    SELECT CASE WHEN $10::text IS NOT NULL AND NOT {pending_exists("$12::text[]", "$1")}
        THEN $10::text END AS worker_id
), inserted AS (
    INSERT INTO tasks ({", ".join(TASK_INSERT_COLUMNS)})
    SELECT t.id, t.user_id, t.type, t.payload::jsonb,
        CASE WHEN lease.worker_id IS NULL THEN 'pending' ELSE 'running' END, t.priority, 1,
        t.max_attempts, t.timeout_s, $1, $1, $1, t.metadata::jsonb, lease.worker_id,
        CASE WHEN lease.worker_id IS NULL THEN NULL ELSE $11::float8 END,
        CASE WHEN lease.worker_id IS NULL THEN NULL ELSE $1::float8 END
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
        $8::float8[], $9::text[]) WITH ORDINALITY
        AS t(id, user_id, type, payload, priority, max_attempts, timeout_s, metadata, n)
    CROSS JOIN lease
    ORDER BY t.n
    RETURNING id, worker_id, payload, metadata
), opened AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
    SELECT id, 1, worker_id, $1 FROM inserted WHERE worker_id IS NOT NULL
), announced AS (
    SELECT pg_notify('{CHANNEL}', '') FROM lease WHERE lease.worker_id IS NULL
)
SELECT inserted.* FROM inserted LEFT JOIN announced ON true
"""


# Each type's best candidates (at most its capacity), locked and skipped by concurrent
# claimers, merged in global order and cut at the limit: the same set a greedy pick over
# the whole queue would take, at index cost per type. Rows locked but cut stay locked
# only until this statement's transaction ends.
# A capped claim's candidates, locked, with each user's RUNNING count, in one statement
# (one round trip fewer than reading the counts first). Users at the cap ($4) are left
# out before the LIMIT, so one user's backlog cannot fill the window; the fair pick
# (englog.domain.fairness) chooses among the candidates and _CLAIM_CHOSEN leases those.
# Rows with a NULL seq carry a count (user_id, running), the others a candidate.
_CANDIDATES = """
WITH running AS (
    SELECT user_id, count(*)::int AS n FROM tasks
    WHERE status = 'running' AND user_id IS NOT NULL GROUP BY user_id
), capped AS (
    SELECT coalesce(array_agg(user_id), '{}'::text[]) AS users FROM running WHERE n >= $4
), caps AS (
    SELECT * FROM unnest($1::text[], $2::int[]) AS c(type, take)
)
SELECT p.*, NULL::int AS running FROM caps CROSS JOIN capped CROSS JOIN LATERAL (
    SELECT seq, type, priority, created_at, user_id FROM tasks
    WHERE status = 'pending' AND type = caps.type AND run_after <= $3
        AND NOT cancel_requested AND (user_id IS NULL OR NOT (user_id = ANY(capped.users)))
    ORDER BY priority DESC, created_at, seq
    LIMIT caps.take
    FOR UPDATE SKIP LOCKED
) p
UNION ALL
SELECT NULL, NULL, NULL, NULL, user_id, n FROM running
"""
# `IS NOT DISTINCT FROM`: by key, never through a partial index (see _END_ATTEMPTS).
_CLAIM_CHOSEN = """
WITH claimed AS (
    UPDATE tasks SET status = 'running', worker_id = $2, lease_expires_at = $3,
        started_at = $4, updated_at = $4, progress = 0, progress_message = NULL
    WHERE seq = ANY($1::bigint[]) AND status IS NOT DISTINCT FROM 'pending'
    RETURNING tasks.*
), opened AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
    SELECT id, attempt, $2, $4 FROM claimed
    ON CONFLICT (task_id, attempt) DO UPDATE SET worker_id = excluded.worker_id,
        started_at = excluded.started_at, ended_at = NULL, outcome = NULL, error = NULL
)
SELECT * FROM claimed
"""


def claim_ctes(
    caps: str, now: str, limit: str, worker: str, expires: str, *, capped: bool = False
) -> str:
    """A claim's CTEs, ending in `claimed` (the leased rows) and `fair` (needed: the
    claim leased nothing and a capped claim's fair pick must decide): `caps` a table of
    (type, take), the other arguments SQL expressions. `_CLAIM` alone;
    `englog.store.postgres.reports` after a report's, in its statement.

    `capped` (a per-user cap applies): each type's candidates are read as far as the
    fair pick reads them (`OVERFETCH`), and when none of them belongs to a user (the
    admin's tasks) the pick is the strict order's, made here: the fair pick of
    `englog.domain.fairness` over tasks of no user is exactly that. Otherwise `fair`."""
    window, user = (f"caps.take * {OVERFETCH}", ", user_id") if capped else ("caps.take", "")
    users = "EXISTS (SELECT 1 FROM cand WHERE user_id IS NOT NULL)" if capped else "false"
    return f"""caps AS (
    SELECT * FROM {caps} AS c(type, take)
), cand AS (
    SELECT p.*, caps.take FROM caps CROSS JOIN LATERAL (
        SELECT seq, type, priority, created_at{user} FROM tasks
        WHERE status = 'pending' AND type = caps.type AND run_after <= {now}
            AND NOT cancel_requested
        ORDER BY priority DESC, created_at, seq
        LIMIT {window}
        FOR UPDATE SKIP LOCKED
    ) p
), fair AS (
    SELECT {users} AS needed
), picked AS (
    SELECT seq FROM (
        SELECT seq, priority, created_at, take, row_number() OVER (
            PARTITION BY type ORDER BY priority DESC, created_at, seq
        ) AS n FROM cand WHERE NOT (SELECT needed FROM fair)
    ) r
    WHERE r.n <= r.take
    ORDER BY r.priority DESC, r.created_at, r.seq
    LIMIT {limit}
), claimed AS (
    UPDATE tasks SET status = 'running', worker_id = {worker}, lease_expires_at = {expires},
        started_at = {now}, updated_at = {now}, progress = 0, progress_message = NULL
    FROM picked WHERE tasks.seq = picked.seq AND tasks.status IS NOT DISTINCT FROM 'pending'
    RETURNING tasks.*
), opened AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
    SELECT id, attempt, {worker}, {now} FROM claimed
    ON CONFLICT (task_id, attempt) DO UPDATE SET worker_id = excluded.worker_id,
        started_at = excluded.started_at, ended_at = NULL, outcome = NULL, error = NULL
)"""


# Every row a claimed task with needed false, or, when it leased nothing, one row of
# NULLs with `needed`.
CLAIMED_AND_FAIR = "claimed.*, fair.needed FROM fair LEFT JOIN claimed ON true"


def _claim(capped: bool) -> str:
    ctes = claim_ctes("unnest($1::text[], $2::int[])", "$3", "$4", "$5", "$6", capped=capped)
    return f"WITH {ctes}\nSELECT {CLAIMED_AND_FAIR}\n"


_CLAIM, _CLAIM_CAPPED = _claim(False), _claim(True)


def _task_columns(tasks: Sequence[NewTask], ids: Sequence[str]) -> list[Any]:
    """The new tasks' columns as arrays, in the order both insert statements take them
    (`unnest` turns them back into rows: one round trip whatever the count)."""
    return [
        ids,
        [t.user_id for t in tasks],
        [t.type for t in tasks],
        [json.dumps(t.payload) for t in tasks],
        [t.priority for t in tasks],
        [t.max_attempts for t in tasks],
        [t.timeout_s for t in tasks],
        [json.dumps(dict(t.metadata)) for t in tasks],
    ]


async def submit_and_claim(
    conn: asyncpg.Connection, tasks: Sequence[NewTask], now: float, lease: Lease | None
) -> tuple[list[Task], bool]:
    """`_SUBMIT_AND_CLAIM` on `conn` (inside the caller's transaction, if any): the tasks
    stored, and whether they were leased to `lease`'s worker."""
    ids = [ordered_id() for _ in tasks]
    sql, args = submit_and_claim_args(tasks, ids, now, lease)
    return submitted(tasks, ids, await conn.fetch(sql, *args), now, lease)


def submitted(
    tasks: Sequence[NewTask],
    ids: Sequence[str],
    rows: Sequence[Record],
    now: float,
    lease: Lease | None,
) -> tuple[list[Task], bool]:
    """`_SUBMIT_AND_CLAIM`'s rows as the tasks stored, in the order given
    (`inserted_task`; the rows bring back only what jsonb may have normalised), and
    whether they were leased (asked to be, and nothing claimable of their types waited)."""
    leased = lease if rows and rows[0]["worker_id"] is not None else None
    stored = {row["id"]: row for row in rows}
    tasks_stored = [
        inserted_task(i, new, now, leased, stored[i]["payload"], stored[i]["metadata"])
        for i, new in zip(ids, tasks, strict=True)
    ]
    return tasks_stored, leased is not None


def submit_and_claim_args(
    tasks: Sequence[NewTask], ids: Sequence[str], now: float, lease: Lease | None
) -> tuple[str, list[Any]]:
    """`_SUBMIT_AND_CLAIM` and its arguments, the tasks inserted under `ids` (`lease`
    None: insert PENDING)."""
    check_transition(TaskStatus.PENDING, TaskStatus.RUNNING)
    return _SUBMIT_AND_CLAIM, [
        now,
        *_task_columns(tasks, ids),
        None if lease is None else lease.worker_id,
        None if lease is None else lease.expires_at,
        list({t.type for t in tasks}),
    ]


def _claim_order(row: Record) -> tuple[int, float, int]:
    return (-row["priority"], row["created_at"], row["seq"])


def claim_args(claim: Claim, lease_ttl_s: float, now: float) -> tuple[str, list[Any]]:
    """`_CLAIM`, or `_CLAIM_CAPPED` under a per-user cap, and its arguments."""
    check_transition(TaskStatus.PENDING, TaskStatus.RUNNING)
    takes, worker, expires = _takes(claim), claim.worker_id, now + lease_ttl_s
    sql = _CLAIM_CAPPED if claim.user_cap else _CLAIM
    return sql, [list(takes), list(takes.values()), now, claim.limit, worker, expires]


def _takes(claim: Claim) -> dict[str, int]:
    return {t: min(int(n), claim.limit) for t, n in claim.capacity.items() if int(n) > 0}


def claimed(rows: Sequence[Record]) -> tuple[list[Task], bool]:
    """A claim's rows (`claim_ctes` then `CLAIMED_AND_FAIR`'s columns) as the tasks
    leased, in claim order, and whether the fair pick must decide instead."""
    leased = [row for row in rows if row["id"] is not None]
    fair = any(row["needed"] for row in rows)
    return [task_from_row(row) for row in sorted(leased, key=_claim_order)], fair


async def claim_fairly(
    conn: asyncpg.Connection, claim: Claim, lease_ttl_s: float, now: float
) -> list[Task]:
    """A capped claim whose candidates belong to users (`fair` said so): candidates
    read (and locked), the fair pick (`fair_pick`) made here, the chosen leased, in the
    caller's transaction."""
    takes, cap = _takes(claim), claim.user_cap
    if claim.limit <= 0 or not takes:
        return []
    check_transition(TaskStatus.PENDING, TaskStatus.RUNNING)
    rows = await conn.fetch(
        _CANDIDATES, list(takes), [n * OVERFETCH for n in takes.values()], now, cap
    )
    running = {r["user_id"]: r["running"] for r in rows if r["seq"] is None}
    candidates = [r for r in rows if r["seq"] is not None]
    chosen = fair_pick(candidates, claim.limit, claim.capacity, running, cap)
    if not chosen:
        return []
    rows = await conn.fetch(_CLAIM_CHOSEN, chosen, claim.worker_id, now + lease_ttl_s, now)
    position = {seq: i for i, seq in enumerate(chosen)}
    return [task_from_row(row) for row in sorted(rows, key=lambda r: position[r["seq"]])]


async def renew(
    conn: asyncpg.Connection,
    worker_id: str,
    expires: float,
    task_ids: Sequence[str] | None,
) -> list[str]:
    """Leases of the worker's RUNNING tasks (those in `task_ids` when given) end no
    earlier than `expires`; returns the ids among them whose cancellation was requested.
    Rows are locked in `seq` order, as report_results locks them, so a heartbeat and a
    report of the same worker never deadlock; a row being reported right now is
    skipped (its lease no longer matters)."""
    where = "worker_id = $2 AND status = 'running'"
    args: list[Any] = [expires, worker_id]
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


async def submit_idempotent(
    conn: asyncpg.Connection, new: NewTask, key: str, fingerprint: str, ttl_s: float, now: float
) -> tuple[Task, bool]:
    scope = new.user_id or ""
    # Two replicas given the same key at once take turns here.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{len(scope)}:{scope}:{key}"
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
        return task_from_row(found), False
    [stored], _ = await submit_and_claim(conn, [new], now, None)
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


# Advisory locks on every key of a keyed submission, taken in one order so that two
# batches sharing keys cannot deadlock (volatile functions run after the sort).
_LOCK_KEYS = """
SELECT pg_advisory_xact_lock(h) FROM (
    SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h
) s ORDER BY h
"""
_FIND_KEYS = """
SELECT k.scope AS key_scope, k.key AS key_name, k.fingerprint,
    k.created_at AS key_created_at, t.*
FROM idempotency_keys k JOIN tasks t ON t.id = k.task_id
WHERE (k.scope, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""
_SAVE_KEYS = """
INSERT INTO idempotency_keys (scope, key, fingerprint, task_id, created_at)
SELECT *, $5::float8 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint,
    task_id = excluded.task_id, created_at = excluded.created_at
"""


def _lock_name(scope: str, key: str) -> str:
    """The advisory lock of a key, as `submit_idempotent` names it."""
    return f"{len(scope)}:{scope}:{key}"


async def submit_keyed(
    conn: asyncpg.Connection,
    items: Sequence[KeyedTask],
    ttl_s: float,
    now: float,
    claim: Claim | None,
    lease_ttl_s: float,
) -> tuple[list[tuple[Task, bool]], list[Task]]:
    """`Store.submit_keyed` in a fixed number of statements whatever the item count:
    lock the keys, look them all up, insert the new tasks (leased when they fit
    `claim`), save their keys."""
    scopes = [i.task.user_id or "" for i in items]
    keys = [i.key for i in items]
    await conn.execute(_LOCK_KEYS, [_lock_name(s, k) for s, k in zip(scopes, keys, strict=True)])
    found = {
        (row["key_scope"], row["key_name"]): row
        for row in await conn.fetch(_FIND_KEYS, scopes, keys)
        if row["key_created_at"] >= now - ttl_s
    }
    outcomes: list[tuple[Task, bool] | None] = []
    fresh: dict[tuple[str, str], int] = {}
    news: list[KeyedTask] = []
    for scope, item in zip(scopes, items, strict=True):
        row = found.get((scope, item.key))
        if row is not None:
            if row["fingerprint"] != item.fingerprint:
                raise IdempotencyKeyReused(item.key, row["id"])
            outcomes.append((task_from_row(row), False))
        elif (scope, item.key) in fresh:
            if news[fresh[scope, item.key]].fingerprint != item.fingerprint:
                raise IdempotencyKeyReused(item.key, None)
            outcomes.append(None)
        else:
            fresh[scope, item.key] = len(news)
            news.append(item)
            outcomes.append(None)
    stored, leased = await _insert_new(conn, news, now, claim, lease_ttl_s)
    answers: list[tuple[Task, bool]] = []
    seen: set[int] = set()
    for scope, item, outcome in zip(scopes, items, outcomes, strict=True):
        if outcome is None:
            index = fresh[scope, item.key]
            outcome = (stored[index], index not in seen)
            seen.add(index)
        answers.append(outcome)
    return answers, leased


async def _insert_new(
    conn: asyncpg.Connection,
    news: Sequence[KeyedTask],
    now: float,
    claim: Claim | None,
    lease_ttl_s: float,
) -> tuple[list[Task], list[Task]]:
    """The tasks of new keys, leased when they fit `claim` with nothing claimable of
    their types ahead of them, and their keys saved: (stored, leased)."""
    new_tasks = [n.task for n in news]
    if not new_tasks:
        return [], []
    lease = None
    if claim is not None and claim.fits(new_tasks):
        lease = Lease(claim.worker_id, now + lease_ttl_s)
    stored, leased = await submit_and_claim(conn, new_tasks, now, lease)
    await conn.execute(
        _SAVE_KEYS,
        [n.task.user_id or "" for n in news],
        [n.key for n in news],
        [n.fingerprint for n in news],
        [t.id for t in stored],
        now,
    )
    return stored, stored if leased else []


async def cancel(
    conn: asyncpg.Connection, task_id: str, user_id: str | None, now: float
) -> Task | None:
    row = await conn.fetchrow(
        "SELECT * FROM tasks WHERE id = $1 AND ($2::text IS NULL OR user_id = $2) FOR UPDATE",
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
            "UPDATE tasks SET cancel_requested = true, updated_at = $1 WHERE id = $2 RETURNING *",
            now,
            task_id,
        )
    return task_from_row(row)
