"""The viewer's calendar: the zone their days are lived in and the day their week
starts. Every engineer page reads it once, so a time typed, shown or counted on the
web means the same local clock the CLI and the reports use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from englog.domain import localtime
from englog.domain.localtime import Weekday
from englog.server.state import ServerState
from englog.store.records import UserSettings


@dataclass(frozen=True, slots=True)
class Calendar:
    zone_name: str
    tz: tzinfo
    week_start: Weekday
    zone_set: bool  # False: UTC only because the person never chose a zone

    @classmethod
    def of(cls, settings: UserSettings) -> Calendar:
        name, tz = localtime.zone_or_default(settings.zone_name)
        try:
            week_start = Weekday(settings.week_start)
        except ValueError:
            week_start = Weekday.MONDAY
        return cls(name, tz, week_start, settings.timezone is not None)

    def today(self, now: datetime | None = None) -> date:
        return localtime.today_in(self.tz, now)

    def now(self) -> datetime:
        return datetime.now(UTC).astimezone(self.tz)


async def calendar_of(state: ServerState, user_id: str) -> Calendar:
    settings = await state.store.get_user_settings(user_id)
    return Calendar.of(settings if settings is not None else UserSettings())
