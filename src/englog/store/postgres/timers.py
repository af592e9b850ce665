"""PostgreSQL: the running timer and the weekly target, each on a connection inside a
transaction."""

from __future__ import annotations

import asyncpg

from englog.domain.entries import Entry
from englog.domain.timer import RunningTimer
from englog.store import timers as _shared
from englog.store.postgres import entries as _entries
from englog.store.records import UserSettings

SETTINGS = _shared.SELECT_SETTINGS.format("$1")
_RETURNING = " RETURNING timezone, week_start, weekly_target_hours, focus_target"
SET_ZONE = (
    "UPDATE users SET timezone = COALESCE($1, timezone),"
    " week_start = COALESCE($2, week_start) WHERE id = $3" + _RETURNING
)
SET_TARGET = (
    "UPDATE users SET weekly_target_hours = $1, focus_target = $2 WHERE id = $3" + _RETURNING
)


def settings_of(row: asyncpg.Record | None) -> UserSettings | None:
    return None if row is None else UserSettings(*row)


async def get_timer(conn: asyncpg.Connection, user_id: str) -> RunningTimer | None:
    row = await conn.fetchrow(_shared.SELECT_TIMER.format("$1"), user_id)
    return None if row is None else _shared.timer_of(row)


async def swap(
    conn: asyncpg.Connection, change: _shared.Swap, now: float
) -> tuple[bool, Entry | None]:
    user_id = change.user_id
    # The user's row is the lock: two starts at once would both see "no timer" otherwise.
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
    current = await conn.fetchval("SELECT id FROM timers WHERE user_id = $1", user_id)
    if current != change.expected_id:
        return False, None
    logged = None
    if change.finished is not None:
        [logged] = await _entries.insert_entries(conn, user_id, [change.finished], now)
    await conn.execute("DELETE FROM timers WHERE user_id = $1", user_id)
    if change.new is not None:
        await conn.execute(
            "INSERT INTO timers (user_id, id, fields, start_time, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            user_id,
            *_shared.timer_values(change.new),
            now,
        )
    return True, logged
