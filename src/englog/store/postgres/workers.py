"""PostgreSQL worker and session operations: registration, heartbeats and the reaping
of workers gone silent, each on a connection inside a transaction."""

from __future__ import annotations

import asyncpg

from englog.domain.attempts import worker_went_silent
from englog.domain.policy import QueuePolicy
from englog.store.postgres.attempts import end_attempts
from englog.store.records import Heartbeat, LostWorkers, Session, WorkerInfo
from englog.store.rows import session_from_row
from englog.store.sql import END_CREDENTIAL_SESSIONS, REVOKE_CREDENTIAL, numbered

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


async def register(
    conn: asyncpg.Connection, info: WorkerInfo, token_hash: str, now: float, identity: str = ""
) -> bool:
    # The worker's row locked first: two registrations of one id take turns.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", info.id)
    live = await conn.fetchval("SELECT identity FROM sessions WHERE worker_id = $1", info.id)
    if live is not None and identity and live not in ("", identity):
        return False  # another credential's live worker
    capacity = {capability: info.max_concurrency for capability in info.capabilities}
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
        token_hash,
    )
    await conn.execute("DELETE FROM sessions WHERE worker_id = $1", info.id)
    await conn.execute(
        "INSERT INTO sessions (token_hash, worker_id, created_at, last_heartbeat_at, identity)"
        " VALUES ($1, $2, $3, $3, $4)",
        token_hash,
        info.id,
        now,
        identity,
    )
    return True


async def revoke_credential(conn: asyncpg.Connection, worker_id: str, now: float) -> bool:
    """Revoke `worker_id`'s own credential and end the sessions it opened."""
    done = await conn.fetch(numbered(REVOKE_CREDENTIAL), now, worker_id)
    await conn.execute(numbered(END_CREDENTIAL_SESSIONS), worker_id, f"worker:{worker_id}")
    return bool(done)


async def heartbeat(conn: asyncpg.Connection, beat: Heartbeat, now: float) -> Session | None:
    row = await conn.fetchrow(
        "UPDATE sessions SET last_heartbeat_at = $1 WHERE token_hash = $2 RETURNING *",
        now,
        beat.token_hash,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE workers SET last_heartbeat_at = $1, status = $2, stats = $3, capacity = $4"
        " WHERE id = $5",
        now,
        beat.status,
        dict(beat.stats),
        dict(beat.capacity),
        row["worker_id"],
    )
    return session_from_row(row)


async def reap_lost_workers(
    conn: asyncpg.Connection, silent_since: float, now: float, policy: QueuePolicy
) -> LostWorkers:
    """Sessions silent since before `silent_since` go, their workers go offline, and
    their RUNNING tasks are taken back (`worker_went_silent`), listed worker by worker.
    Deleting the session row locks it: a second replica reaping at the same time finds
    it gone, so each dead worker is reaped once."""
    deleted = await conn.fetch(
        "DELETE FROM sessions WHERE last_heartbeat_at < $1 RETURNING worker_id", silent_since
    )
    dead = sorted({row["worker_id"] for row in deleted})
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
    tasks = await end_attempts(conn, [worker_went_silent(row, now, policy) for row in rows], now)
    by_worker = {worker_id: i for i, worker_id in enumerate(dead)}
    worker_of = {row["id"]: row["worker_id"] for row in rows}
    tasks.sort(key=lambda t: by_worker[worker_of[t.id]])
    return LostWorkers(dead, tasks)
