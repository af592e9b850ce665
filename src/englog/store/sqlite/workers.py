"""SQLite worker and session operations: registration, heartbeats and the reaping of
workers gone silent. Each runs on a connection inside a transaction."""

from __future__ import annotations

import json
import sqlite3

from englog.domain.attempts import worker_went_silent
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import Task
from englog.store.records import Heartbeat, LostWorkers, Session, WorkerInfo
from englog.store.sql import END_CREDENTIAL_SESSIONS, REVOKE_CREDENTIAL
from englog.store.sqlite.attempts import end_attempt
from englog.store.sqlite.rows import session, task


def register(
    conn: sqlite3.Connection, info: WorkerInfo, token_hash: str, now: float, identity: str = ""
) -> bool:
    live = conn.execute("SELECT identity FROM sessions WHERE worker_id = ?", (info.id,)).fetchone()
    if live is not None and identity and live["identity"] not in ("", identity):
        return False  # another credential's live worker
    capacity = {capability: info.max_concurrency for capability in info.capabilities}
    conn.execute(
        "INSERT INTO workers (id, name, capabilities, version, metadata, max_concurrency,"
        " registered_at, last_heartbeat_at, status, capacity, session_token_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " capabilities = excluded.capabilities, version = excluded.version,"
        " metadata = excluded.metadata, max_concurrency = excluded.max_concurrency,"
        " registered_at = excluded.registered_at,"
        " last_heartbeat_at = excluded.last_heartbeat_at, status = 'ready',"
        " capacity = excluded.capacity, session_token_hash = excluded.session_token_hash",
        (
            info.id,
            info.name,
            json.dumps(list(info.capabilities)),
            info.version,
            json.dumps(dict(info.metadata)),
            info.max_concurrency,
            now,
            now,
            json.dumps(capacity),
            token_hash,
        ),
    )
    conn.execute("DELETE FROM sessions WHERE worker_id = ?", (info.id,))
    conn.execute(
        "INSERT INTO sessions (token_hash, worker_id, created_at, last_heartbeat_at, identity)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, info.id, now, now, identity),
    )
    return True


def revoke_credential(conn: sqlite3.Connection, worker_id: str, now: float) -> bool:
    """Revoke `worker_id`'s own credential and end the sessions it opened."""
    done = conn.execute(REVOKE_CREDENTIAL, (now, worker_id)).fetchall()
    conn.execute(END_CREDENTIAL_SESSIONS, (worker_id, f"worker:{worker_id}"))
    return bool(done)


def heartbeat(conn: sqlite3.Connection, beat: Heartbeat, now: float) -> Session | None:
    row = conn.execute(
        "UPDATE sessions SET last_heartbeat_at = ? WHERE token_hash = ? RETURNING *",
        (now, beat.token_hash),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE workers SET last_heartbeat_at = ?, status = ?, stats = ?, capacity = ?"
        " WHERE id = ?",
        (
            now,
            beat.status,
            json.dumps(dict(beat.stats)),
            json.dumps(dict(beat.capacity)),
            row["worker_id"],
        ),
    )
    return session(row)


def reap_lost_workers(
    conn: sqlite3.Connection, silent_since: float, now: float, policy: QueuePolicy
) -> LostWorkers:
    """Sessions silent since before `silent_since` go, their workers go offline, and
    their RUNNING tasks are taken back (`worker_went_silent`), worker by worker."""
    dead = sorted(
        {
            row["worker_id"]
            for row in conn.execute(
                "DELETE FROM sessions WHERE last_heartbeat_at < ? RETURNING worker_id",
                (silent_since,),
            ).fetchall()
        }
    )
    tasks: list[Task] = []
    for worker_id in dead:
        conn.execute(
            "UPDATE workers SET status = 'offline', session_token_hash = NULL WHERE id = ?",
            (worker_id,),
        )
        rows = conn.execute(
            "SELECT * FROM tasks WHERE status = 'running' AND worker_id = ? ORDER BY seq",
            (worker_id,),
        ).fetchall()
        for row in rows:
            tasks.append(task(end_attempt(conn, worker_went_silent(row, now, policy), now)))
    return LostWorkers(dead, tasks)
