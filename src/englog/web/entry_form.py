"""The quick-add and edit forms: what a person types (a `datetime-local` on their own
clock, a duration like `45m`, comma-separated tags) turned into the API's EntryIn, with
one message per problem instead of a stack of pydantic errors.

Times typed are local to the person's zone. An end earlier than the start on the same
day is the next day (23:00 -> 01:00 is two hours), as people write a night's work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from englog.domain.durations import parse_minutes
from englog.errors import EnglogError
from englog.server.http.errors import field_errors
from englog.server.http.models import EntryIn

FIELDS = ("title", "type", "project", "start", "end", "duration", "value", "impact", "tags")


class FormProblem(EnglogError, ValueError):
    """What is wrong with a form, in words for the person who filled it in."""


@dataclass(slots=True)
class EntryForm:
    """The form as typed, kept to fill it in again when it is refused."""

    values: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_form(cls, form: FormData) -> EntryForm:
        values = {name: str(form.get(name) or "").strip() for name in FIELDS}
        return cls(values=values)

    def entry(self, tz: tzinfo = UTC) -> EntryIn | None:
        """The entry, times read in `tz`, or None with `problems` filled in."""
        try:
            return EntryIn.model_validate(self._fields(tz))
        except FormProblem as exc:
            self.problems.append(str(exc))
        except ValidationError as exc:
            self.problems.extend(_messages(exc))
        return None

    def _fields(self, tz: tzinfo) -> dict[str, Any]:
        v = self.values
        start = local_moment(v["start"], "Start", tz)
        if v["end"]:
            end = local_moment(v["end"], "End", tz)
            if end < start and end.astimezone(tz).date() == start.astimezone(tz).date():
                end = _next_day(end, tz)
        elif v["duration"]:
            try:
                end = start + timedelta(minutes=parse_minutes(v["duration"]))
            except ValueError as exc:
                raise FormProblem(f"Duration: {exc}") from exc
        else:
            raise FormProblem("Give an End time or a Duration (like 45m or 1h30m)")
        tags = [t.strip() for t in v["tags"].split(",") if t.strip()]
        fields: dict[str, Any] = {
            "title": v["title"],
            "type": v["type"] or "development",
            "project": v["project"] or None,
            "tags": list(dict.fromkeys(tags)),
            "start_time": start.isoformat(),
            "end_time": end.isoformat(),
        }
        if v["value"]:
            fields["value_rating"] = v["value"]
        if v["impact"]:
            fields["impact_level"] = v["impact"]
        return fields


def local_moment(text: str, name: str, tz: tzinfo) -> datetime:
    """A `datetime-local` value (`2026-12-03T09:30`), read on the clock of `tz`; as UTC.

    A clock time that DST skips or repeats is read as zoneinfo does (fold 0: the
    offset before the change)."""
    if not text:
        raise FormProblem(f"{name} is required")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FormProblem(f"{name}: {text!r} is not a date and time") from exc
    try:
        local = moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
        return local.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise FormProblem(f"{name}: {text!r} is out of the calendar") from exc


def _next_day(moment: datetime, tz: tzinfo) -> datetime:
    """The same clock time a day later in `tz` (so across a DST change too)."""
    local = moment.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    try:
        return local.replace(tzinfo=tz).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise FormProblem("End: the day after is out of the calendar") from exc


_NAMES = {
    "start_time": "Start",
    "end_time": "End",
    "value_rating": "Value",
    "impact_level": "Impact",
}


def _messages(exc: ValidationError) -> list[str]:
    """The API's field errors, each named as the form labels its field."""
    out = []
    for error in field_errors(exc.errors()):
        where = error["field"].split(".")[0]
        name = _NAMES.get(where, where.replace("_", " ").capitalize())
        out.append(f"{name}: {error['message']}" if name else error["message"])
    return out


def local_input(moment: datetime, tz: tzinfo) -> str:
    """`moment` as a `datetime-local` value on the clock of `tz`."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def form_values(entry: Any, tz: tzinfo = UTC) -> dict[str, str]:
    """An entry as the edit form shows it, on the clock of `tz`."""
    return {
        "title": entry.title,
        "type": str(entry.type),
        "project": entry.project or "",
        "start": local_input(entry.start_time, tz),
        "end": local_input(entry.end_time, tz),
        "duration": "",
        "value": str(entry.value_rating),
        "impact": str(entry.impact_level),
        "tags": ", ".join(entry.tags),
    }
