"""Times as a person types them on the command line: durations (`45m`, `1h30`,
`1:30`, `1.5h`), clock times (`09:10`), days (`--yesterday`, `--date 2026-11-30`) and
weeks, all in the person's own time zone (their account's, `englog me`). Each bad input
raises ValueError with a message the CLI prints as it is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from englog.client.periods import parse_week
from englog.domain.durations import format_minutes as format_minutes  # re-exported
from englog.domain.durations import parse_minutes
from englog.domain.localtime import week_containing

# An end earlier than the start is read as the next day only up to this length; a
# longer span is more likely a typo (10:00 to 09:00) than a 23-hour entry.
PAST_MIDNIGHT_MAX = timedelta(hours=12)
_CLOCK = re.compile(r"(\d{1,2})[:h.]?(\d{2})?")


def parse_clock(text: str, option: str) -> time:
    """`09:10`, `9:10`, `9h10`, `0910` or `9`."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{option} {text!r} is not a time like 09:10")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"{option} {text!r} is not a time of day (00:00 to 23:59)")
    return time(hour, minute)


def parse_day(text: str, option: str = "--date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a date like 2026-11-30") from None


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def entry_span(
    duration: str | None,
    start: str | None,
    end: str | None,
    day: date,
    now: datetime,
    tz: tzinfo | None = None,
) -> Span:
    """When an entry happened, from a duration and/or --from/--to on `day` in `tz` (the
    zone of `now` by default). Without --to it ends now (at this time of day on an
    earlier `day`); a --to earlier than --from is on the next day (23:00 to 01:00)."""
    zone = tz or now.tzinfo
    if duration and start and end:
        raise ValueError("give a duration or both --from and --to, not all three")
    minutes = timedelta(minutes=parse_minutes(duration)) if duration else None
    begin = _on(day, parse_clock(start, "--from"), zone) if start else None
    finish = _on(day, parse_clock(end, "--to"), zone) if end else None
    if begin is None and minutes is None and finish is None:
        raise ValueError("say how long: a duration like 45m, or --from 09:10 --to 10:30")
    if finish is None:
        local_now = now.astimezone(zone)
        finish = (
            begin + minutes if begin is not None and minutes else _on(day, local_now.time(), zone)
        )
    if begin is None:
        if minutes is None:
            raise ValueError("--to needs --from or a duration")
        begin = finish - minutes
    if finish <= begin and start and end:
        next_day = _on(day + timedelta(days=1), parse_clock(end, "--to"), zone)
        if next_day - begin <= PAST_MIDNIGHT_MAX:
            finish = next_day  # 23:00 to 01:00: it ended after midnight
    if finish <= begin:
        raise ValueError(
            f"the entry ends ({finish:%H:%M}) before it starts ({begin:%H:%M}): "
            "check --from and --to (an end after midnight is taken as the next day "
            f"when the entry is at most {PAST_MIDNIGHT_MAX.seconds // 3600} h long)"
        )
    return Span(begin, finish)


def _on(day: date, clock: time, tz: tzinfo | None) -> datetime:
    """That wall-clock time on `day` in `tz`, as an instant with its fixed UTC offset
    (so differences are elapsed time across a DST change)."""
    moment = datetime.combine(day, clock.replace(second=0, microsecond=0))
    local = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    offset = local.utcoffset()
    return local.astimezone(timezone(offset)) if offset is not None else local


def pick_day(yesterday: bool, on: str | None, today: date) -> date:
    if yesterday and on:
        raise ValueError("give --yesterday or --date, not both")
    if yesterday:
        return today - timedelta(days=1)
    return parse_day(on) if on else today


def listing_range(
    today_only: bool,
    week: str | None,
    start: str | None,
    end: str | None,
    today: date,
    week_start: str = "monday",
) -> tuple[date, date]:
    """The local days of `englog entries`, both included: this week by default;
    --today, --week, or --from/--to (dates, the --to day included)."""
    chosen = sum(bool(x) for x in (today_only, week, start or end))
    if chosen > 1:
        raise ValueError("give one of --today, --week, or --from/--to")
    if today_only:
        return today, today
    if week:
        return parse_week(week)
    if start or end:
        first = parse_day(start, "--from") if start else today - timedelta(days=6)
        last = parse_day(end, "--to") if end else today
        if last < first:
            raise ValueError(f"--to {last} is before --from {first}")
        return first, last
    return week_containing(today, week_start)
