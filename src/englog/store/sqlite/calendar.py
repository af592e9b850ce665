"""SQLite: a person's zone, week, target and running timer (`CalendarStore`), on the
store's own connections (`_rows`, `_read`, `_write` of `SQLiteStore`)."""

from __future__ import annotations

import sqlite3
from typing import Any

from englog.domain import Entry, EntryFields
from englog.domain.timer import RunningTimer
from englog.store import records
from englog.store.sqlite import timers as _timers
from englog.store.timers import Swap


class SQLiteCalendar:
    _rows: Any
    _read: Any
    _write: Any

    async def get_user_settings(self, user_id: str) -> records.UserSettings | None:
        rows = await self._rows(_timers.SETTINGS, user_id)
        return records.UserSettings(*rows[0]) if rows else None

    async def set_user_settings(
        self, user_id: str, *, timezone: str | None = None, week_start: str | None = None
    ) -> records.UserSettings | None:
        def change(conn: sqlite3.Connection) -> records.UserSettings | None:
            conn.execute(
                "UPDATE users SET timezone = COALESCE(?, timezone),"
                " week_start = COALESCE(?, week_start) WHERE id = ?",
                (timezone, week_start, user_id),
            )
            row = conn.execute(_timers.SETTINGS, (user_id,)).fetchone()
            return None if row is None else records.UserSettings(*row)

        return await self._write(change)

    async def set_weekly_target(
        self, user_id: str, hours: float | None, focus: float | None
    ) -> records.UserSettings | None:
        return await self._write(lambda conn: _timers.set_target(conn, user_id, hours, focus))

    async def get_timer(self, user_id: str) -> RunningTimer | None:
        return await self._read(lambda conn: _timers.get_timer(conn, user_id))

    async def swap_timer(
        self,
        user_id: str,
        expected_id: str | None,
        new: RunningTimer | None,
        finished: EntryFields | None,
        now: float,
    ) -> tuple[bool, Entry | None]:
        swap = Swap(user_id, expected_id, new, finished)
        return await self._write(lambda conn: _timers.swap(conn, swap, now))
