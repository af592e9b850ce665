"""SQLite: the running timer and the weekly target, each run on a connection inside a
transaction."""

from __future__ import annotations

import sqlite3

from englog.domain.entries import Entry
from englog.domain.timer import RunningTimer
from englog.store import timers as _shared
from englog.store.records import UserSettings
from englog.store.sqlite import entries as _entries

SETTINGS = _shared.SELECT_SETTINGS.format("?")


def set_target(
    conn: sqlite3.Connection, user_id: str, hours: float | None, focus: float | None
) -> UserSettings | None:
    conn.execute(
        "UPDATE users SET weekly_target_hours = ?, focus_target = ? WHERE id = ?",
        (hours, focus, user_id),
    )
    row = conn.execute(SETTINGS, (user_id,)).fetchone()
    return None if row is None else UserSettings(*row)


def get_timer(conn: sqlite3.Connection, user_id: str) -> RunningTimer | None:
    row = conn.execute(_shared.SELECT_TIMER.format("?"), (user_id,)).fetchone()
    return None if row is None else _shared.timer_of(row)


def swap(conn: sqlite3.Connection, change: _shared.Swap, now: float) -> tuple[bool, Entry | None]:
    user_id = change.user_id
    row = conn.execute("SELECT id FROM timers WHERE user_id = ?", (user_id,)).fetchone()
    if (row[0] if row else None) != change.expected_id:
        return False, None
    logged = None
    if change.finished is not None:
        [logged] = _entries.insert_entries(conn, user_id, [change.finished], now)
    conn.execute("DELETE FROM timers WHERE user_id = ?", (user_id,))
    if change.new is not None:
        conn.execute(
            "INSERT INTO timers (user_id, id, fields, start_time, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_id, *_shared.timer_values(change.new), now),
        )
    return True, logged
