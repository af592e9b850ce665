"""SQL both backends share, written once with each dialect's placeholders: the
columns a new task is inserted with, and the assignments that end an attempt
(`AttemptEnd`), including the accepted-result fence columns."""

from __future__ import annotations

from collections.abc import Callable

# The columns of `tasks` set when a task is inserted (the rest keep their defaults).
TASK_INSERT_COLUMNS = (
    "id",
    "user_id",
    "type",
    "payload",
    "status",
    "priority",
    "attempt",
    "max_attempts",
    "timeout_s",
    "created_at",
    "updated_at",
    "run_after",
    "metadata",
    "worker_id",
    "lease_expires_at",
    "started_at",
)

_END_ATTEMPT = """status = {target},
    attempt = CASE WHEN {pending} THEN {row}attempt + 1 ELSE {row}attempt END,
    run_after = CASE WHEN {pending} THEN {run_after} ELSE {row}run_after END,
    worker_id = CASE WHEN {pending} THEN NULL ELSE {row}worker_id END,
    progress = CASE WHEN {pending} THEN 0 WHEN {target} = 'completed' THEN 100
                    ELSE {row}progress END,
    progress_message = CASE WHEN {pending} THEN NULL ELSE {row}progress_message END,
    result = CASE WHEN {pending} THEN NULL ELSE {result} END,
    completed_at = CASE WHEN {pending} THEN {row}completed_at ELSE {now} END,
    lease_expires_at = NULL,
    error = {error},
    updated_at = {now},
    reassignments = {row}reassignments + {reassigned},
    accepted_attempt = CASE WHEN {accepted_worker} IS NULL THEN {row}accepted_attempt
                            ELSE {row}attempt END,
    accepted_worker = COALESCE({accepted_worker}, {row}accepted_worker)"""

END_FIELDS = ("target", "run_after", "result", "error", "reassigned", "accepted_worker", "now")


def end_attempt_assignments(value: Callable[[str], str], row: str = "") -> str:
    """The SET clause of the UPDATE that ends a RUNNING attempt of `tasks`: PENDING
    starts the next attempt after `run_after`, anything else is terminal; an accepted
    result records which attempt and worker it came from (the duplicate fence).
    `value(name)` is the dialect's reference to each of `END_FIELDS` (the AttemptEnd's
    values and the time), `row` the prefix naming the task row being updated."""
    values = {name: value(name) for name in END_FIELDS}
    return _END_ATTEMPT.format(pending=f"{values['target']} = 'pending'", row=row, **values)


# PENDING tasks per type, backoff or not, without cancel requested (`Store.pending_by_type`).
PENDING_BY_TYPE = (
    "SELECT type, COUNT(*) AS n FROM tasks"
    " WHERE status = 'pending' AND NOT cancel_requested GROUP BY type ORDER BY type"
)


# --- the web app's sessions and the operators' overview ----------------------------
# Written with `?` placeholders; PostgreSQL gets them numbered by `numbered`.
TASK_COUNTS = "SELECT status, type, COUNT(*) AS n FROM tasks GROUP BY status, type"
# Finished tasks in [since, now) by minute since `since` (args: since, since, now); the
# range is served by the `tasks_finished` index on completed_at.
FINISHED_BY_MINUTE = (
    "SELECT CAST(FLOOR((completed_at - ?) / 60) AS INTEGER) AS minute, status, COUNT(*) AS n"
    " FROM tasks WHERE completed_at >= ? AND completed_at < ?"
    " AND status IN ('completed', 'failed') GROUP BY 1, 2"
)
CREATE_WEB_SESSION = (
    "INSERT INTO web_sessions (id_hash, token_hash, csrf, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
WEB_SESSION = "SELECT * FROM web_sessions WHERE id_hash = ? AND expires_at > ?"
DELETE_WEB_SESSION = "DELETE FROM web_sessions WHERE id_hash = ?"
PRUNE_WEB_SESSIONS = "DELETE FROM web_sessions WHERE expires_at <= ?"

# --- workers' own credentials and the per-user task cap (issue 22) -----------------
UNFINISHED_COUNT = (
    "SELECT count(*) AS n FROM tasks WHERE user_id = ? AND status IN ('pending', 'running')"
)
UPSERT_CREDENTIAL = (
    "INSERT INTO worker_credentials (worker_id, token_hash, created_at) VALUES (?, ?, ?)"
    " ON CONFLICT (worker_id) DO UPDATE SET token_hash = excluded.token_hash,"
    " created_at = excluded.created_at, revoked_at = NULL"
)
CREDENTIAL_WORKER = (
    "SELECT worker_id FROM worker_credentials WHERE token_hash = ? AND revoked_at IS NULL"
)
HAS_CREDENTIAL = "SELECT 1 FROM worker_credentials WHERE worker_id = ? AND revoked_at IS NULL"
CREDENTIALS = "SELECT worker_id, created_at, revoked_at FROM worker_credentials ORDER BY worker_id"
REVOKE_CREDENTIAL = (
    "UPDATE worker_credentials SET revoked_at = ? WHERE worker_id = ? AND revoked_at IS NULL"
    " RETURNING worker_id"
)
# Sessions a revoked credential opened (args: worker id, its identity key).
END_CREDENTIAL_SESSIONS = "DELETE FROM sessions WHERE worker_id = ? AND identity = ?"


def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders as PostgreSQL's `$1, $2, …` (none of the
    statements above holds a `?` inside a literal)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
