"""Meetings from a calendar file (iCalendar, RFC 5545), recurrences expanded by
recurring-ical-events (RRULE, EXDATE, moved occurrences). Cancelled events, all-day
events and those the person declined are left out; each draft is marked with the
event's UID and its occurrence's start, so importing the file again adds nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import icalendar
import recurring_ical_events

from englog.domain.entries import MAX_ENTRY_DURATION
from englog.errors import EnglogError
from englog.imports.drafts import DESCRIPTION_MAX, Draft, short_title

ICS_TAG = "calendar"
EVENT_MARK = re.compile(r"^ics-event: (\S+)$", re.MULTILINE)


class CalendarError(EnglogError):
    """A file that is not an iCalendar file."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Why an occurrence was left out, for the summary the CLI prints."""

    cancelled: int = 0
    all_day: int = 0
    declined: int = 0
    imported: int = 0
    too_long: int = 0
    no_duration: int = 0  # no end, or an end at its start


def read_calendar(data: bytes) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise CalendarError(f"not an iCalendar file: {exc}") from None


def occurrences(calendar: icalendar.Calendar, start: datetime, end: datetime) -> list[Any]:
    """Every event occurrence overlapping [start, end), recurrences expanded."""
    try:
        found = recurring_ical_events.of(calendar).between(start, end)
    except Exception as exc:  # the library raises several kinds for a broken rule
        raise CalendarError(f"cannot expand the calendar's events: {exc}") from None
    return [event for event in found if event.name == "VEVENT"]


def _aware(value: datetime, tz: tzinfo) -> datetime:
    """A floating time (no zone) is the person's own local time."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def declined_by(event: Any, me: str | None) -> bool:
    if not me:
        return False
    attendees = event.get("ATTENDEE", [])
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        address = str(attendee).lower().removeprefix("mailto:")
        if address == me.lower():
            return str(attendee.params.get("PARTSTAT", "")).upper() == "DECLINED"
    return False


def event_key(event: Any, start: datetime) -> str:
    """The UID and the occurrence's start in UTC: one key per meeting occurrence."""
    uid = re.sub(r"\s+", "_", str(event.get("UID", "no-uid")))
    return f"{uid}@{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def drafts_from(
    events: Iterable[Any], tz: tzinfo, me: str | None, imported: set[str]
) -> tuple[list[Draft], Skipped]:
    """Meeting drafts in `tz`, and what was skipped and why."""
    drafts: list[Draft] = []
    counts = {name: 0 for name in Skipped.__dataclass_fields__}
    for event in events:
        reason = _skip_reason(event, me)
        if reason:
            counts[reason] += 1
            continue
        start = _aware(event.start, tz).astimezone(tz)
        end = _aware(event.end, tz).astimezone(tz)
        key = event_key(event, start)
        reason = _occurrence_skip(key in imported, start, end)
        if reason:
            counts[reason] += 1
            continue
        imported.add(key)
        drafts.append(_draft(event, start, end, key))
    return sorted(drafts, key=lambda d: d.start), Skipped(**counts)


def _skip_reason(event: Any, me: str | None) -> str | None:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return "cancelled"
    start = event.get("DTSTART")
    if start is None or not isinstance(start.dt, datetime):
        return "all_day"
    if declined_by(event, me):
        return "declined"
    return None


def _occurrence_skip(seen: bool, start: datetime, end: datetime) -> str | None:
    if seen:
        return "imported"
    if end <= start:
        return "no_duration"
    if end - start > MAX_ENTRY_DURATION:
        return "too_long"
    return None


def _draft(event: Any, start: datetime, end: datetime, key: str) -> Draft:
    summary = str(event.get("SUMMARY", "")).strip()
    notes = str(event.get("DESCRIPTION", "")).strip()
    marker = f"ics-event: {key}"
    text = f"{notes[: DESCRIPTION_MAX - len(marker) - 2]}\n\n{marker}" if notes else marker
    return Draft(
        title=short_title([summary or "Meeting"]),
        type="meeting",
        start=start,
        end=end,
        description=text,
        tags=[ICS_TAG],
    )
