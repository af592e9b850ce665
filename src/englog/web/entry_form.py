"""The quick-add and edit forms: what a person types (a local `datetime-local`, a
duration like `45m`, comma-separated tags) turned into the API's EntryIn, with one
message per problem instead of a stack of pydantic errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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

    def entry(self) -> EntryIn | None:
        """The entry, or None with `problems` filled in."""
        try:
            return EntryIn.model_validate(self._fields())
        except FormProblem as exc:
            self.problems.append(str(exc))
        except ValidationError as exc:
            self.problems.extend(_messages(exc))
        return None

    def _fields(self) -> dict[str, Any]:
        v = self.values
        start = _moment(v["start"], "Start")
        if v["end"]:
            end = _moment(v["end"], "End")
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


def _moment(text: str, name: str) -> datetime:
    """A `datetime-local` value (`2026-12-03T09:30`), read as UTC."""
    if not text:
        raise FormProblem(f"{name} is required")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FormProblem(f"{name}: {text!r} is not a date and time") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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


def form_values(entry: Any) -> dict[str, str]:
    """An entry as the edit form shows it."""
    return {
        "title": entry.title,
        "type": str(entry.type),
        "project": entry.project or "",
        "start": entry.start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
        "end": entry.end_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
        "duration": "",
        "value": str(entry.value_rating),
        "impact": str(entry.impact_level),
        "tags": ", ".join(entry.tags),
    }
