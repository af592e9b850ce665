"""PostgreSQL: a person's zone, week, target and running timer (`CalendarStore`), on
the store's pool (`_fetchrow`, `_tx` of `PostgresStore`)."""

from __future__ import annotations

from typing import Any

from englog.domain import Entry, EntryFields
from englog.domain.timer import RunningTimer
from englog.store import records
from englog.store.postgres import timers as _timers
from englog.store.timers import Swap


class PostgresCalendar:
    _fetchrow: Any
    _tx: Any

    async def get_user_settings(self, user_id: str) -> records.UserSettings | None:
        return _timers.settings_of(await self._fetchrow(_timers.SETTINGS, user_id))

    async def set_user_settings(
        self, user_id: str, *, timezone: str | None = None, week_start: str | None = None
    ) -> records.UserSettings | None:
        row = await self._fetchrow(_timers.SET_ZONE, timezone, week_start, user_id)
        return _timers.settings_of(row)

    async def set_weekly_target(
        self, user_id: str, hours: float | None, focus: float | None
    ) -> records.UserSettings | None:
        return _timers.settings_of(await self._fetchrow(_timers.SET_TARGET, hours, focus, user_id))

    async def get_timer(self, user_id: str) -> RunningTimer | None:
        async with self._tx() as conn:
            return await _timers.get_timer(conn, user_id)

    async def swap_timer(
        self,
        user_id: str,
        expected_id: str | None,
        new: RunningTimer | None,
        finished: EntryFields | None,
        now: float,
    ) -> tuple[bool, Entry | None]:
        async with self._tx() as conn:
            swap = Swap(user_id, expected_id, new, finished)
            return await _timers.swap(conn, swap, now)
