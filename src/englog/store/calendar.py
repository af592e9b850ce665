"""The part of the store about a person's own calendar: the zone their days are in, the
week's first day and target, and the one running timer. Its own module so each store
stays readable; `Store` inherits it."""

from __future__ import annotations

import abc

from englog.domain.entries import Entry, EntryFields
from englog.domain.timer import RunningTimer
from englog.store.records import UserSettings


class CalendarStore(abc.ABC):
    @abc.abstractmethod
    async def get_user_settings(self, user_id: str) -> UserSettings | None:
        """The user's zone and week start; None for an unknown user."""

    @abc.abstractmethod
    async def set_user_settings(
        self, user_id: str, *, timezone: str | None = None, week_start: str | None = None
    ) -> UserSettings | None:
        """Change what is given (None leaves a setting as it is); the settings after."""

    @abc.abstractmethod
    async def set_weekly_target(
        self, user_id: str, hours: float | None, focus: float | None
    ) -> UserSettings | None:
        """Set (None: clear) the weekly target; the settings after, None for an unknown user."""

    # --- the running timer (at most one per user) ----------------------------------
    @abc.abstractmethod
    async def get_timer(self, user_id: str) -> RunningTimer | None: ...

    @abc.abstractmethod
    async def swap_timer(
        self,
        user_id: str,
        expected_id: str | None,
        new: RunningTimer | None,
        finished: EntryFields | None,
        now: float,
    ) -> tuple[bool, Entry | None]:
        """In one transaction, only if the user's running timer is `expected_id` (None:
        no timer runs): log `finished` (the old timer, ended) and make `new` the running
        timer (None: none runs). (False, None) and nothing changed when another start or
        stop came first; otherwise (True, the logged entry or None)."""
