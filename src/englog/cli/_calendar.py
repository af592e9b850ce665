"""The person's calendar for one CLI command: their account's zone and first day of
the week (`GET /v1/me`), so `--date`, `--from 09:00` and "this week" mean the same days
on the command line, on the web and in reports, whatever the machine's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from englog.client import Client, NotFound
from englog.domain.localtime import UnknownZone, today_in, zone, zone_or_default


@dataclass(frozen=True, slots=True)
class Calendar:
    zone_name: str
    tz: tzinfo
    week_start: str = "monday"

    def now(self) -> datetime:
        return datetime.now(self.tz)

    def today(self) -> date:
        return today_in(self.tz)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)


def machine_zone_name() -> str | None:
    """This machine's IANA zone name (TZ, /etc/localtime, ...), if it has a known one.
    tzlocal reads every place an OS keeps it, which is more than Python itself does."""
    import tzlocal

    try:
        name = tzlocal.get_localzone_name()
    except Exception:  # tzlocal raises several kinds for a misconfigured machine
        return None
    if not name:
        return None
    name = "UTC" if name in ("Etc/UTC", "Etc/Universal", "Universal", "Zulu") else name
    try:
        zone(name)
    except UnknownZone:
        return None
    return name


def calendar_of(client: Client) -> Calendar:
    """The account's calendar; the machine's zone against a server without `/v1/me`."""
    try:
        me = client.me()
    except NotFound:
        local = datetime.now().astimezone().tzinfo
        return Calendar(machine_zone_name() or "local", local or zone("UTC"))
    return Calendar(*zone_or_default(me.timezone), me.week_start)
