"""Entry rules both stores share: which fields may change, the columns an entry is
stored in (each time also as unix seconds, so range queries compare numbers), and the
conversions into those columns. Each store only runs its own SQL over them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from englog.domain.attempts import TaskRow as Row
from englog.domain.entries import EntryFields, check_times
from englog.store.base import InvalidData
from englog.store.records import EntryQuery

# The columns `entry_values` fills, in its order; `ENTRY_COLUMNS` is a whole row.
ENTRY_FIELDS = (
    "title",
    "description",
    "type",
    "project",
    "tags",
    "start_time",
    "end_time",
    "start_ts",
    "end_ts",
    "value_rating",
    "impact_level",
)
ENTRY_COLUMNS = ("id", "user_id", *ENTRY_FIELDS, "created_at", "updated_at")

ENTRY_EDITABLE = frozenset(ENTRY_FIELDS) - {"start_ts", "end_ts"}
ENTRY_NULLABLE = frozenset({"description", "project"})


def instant(value: datetime) -> float:
    """Unix seconds; a naive datetime is taken as UTC so range queries stay total."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def as_datetime(value: Any, field_name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise ValueError(f"{field_name} must be a datetime")


def plain(value: Any) -> Any:
    """An enum's value, anything else as is."""
    return getattr(value, "value", value)


def refuse_nul(name: str, value: Any) -> None:
    """PostgreSQL cannot keep the NUL character in text, SQLite can: refusing it here,
    for both, keeps the backends answering the same entry the same way (InvalidData:
    bad input, never a retry)."""
    texts = value if isinstance(value, list | tuple) else (value,)
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise InvalidData(f"{name} must not contain the NUL character (U+0000)")


def entry_values(fields: EntryFields, encode_tags: Callable[[list[str]], Any]) -> tuple[Any, ...]:
    """The `ENTRY_FIELDS` columns of a new entry, in that order."""
    for name in ("title", "description", "project", "tags"):
        refuse_nul(name, getattr(fields, name))
    return (
        fields.title,
        fields.description,
        plain(fields.type),
        fields.project,
        encode_tags(list(fields.tags)),
        fields.start_time.isoformat(),
        fields.end_time.isoformat(),
        instant(fields.start_time),
        instant(fields.end_time),
        plain(fields.value_rating),
        plain(fields.impact_level),
    )


def check_entry_changes(changes: Mapping[str, Any]) -> None:
    unknown = set(changes) - ENTRY_EDITABLE
    if unknown:
        raise ValueError(f"entries have no editable field(s) {sorted(unknown)}")
    nulled = sorted(k for k, v in changes.items() if v is None and k not in ENTRY_NULLABLE)
    if nulled:
        raise ValueError(f"field(s) {nulled} cannot be null")


def changed_columns(
    row: Row, changes: Mapping[str, Any], encode_tags: Callable[[list[str]], Any]
) -> dict[str, Any]:
    """The columns that `changes` (already checked) set on the stored entry `row`; its
    times are checked as they will be after the change."""
    start = as_datetime(changes.get("start_time", row["start_time"]), "start_time")
    end = as_datetime(changes.get("end_time", row["end_time"]), "end_time")
    check_times(start, end)
    columns: dict[str, Any] = {}
    for name, value in changes.items():
        refuse_nul(name, value)
        if name in ("start_time", "end_time"):
            moment = as_datetime(value, name)
            columns[name] = moment.isoformat()
            columns[name.replace("_time", "_ts")] = instant(moment)
        elif name == "tags":
            columns["tags"] = encode_tags(list(value))
        else:
            columns[name] = plain(value)
    return columns


def entry_filters(query: EntryQuery) -> list[tuple[str, Any]]:
    """(column and operator, value) for each condition of `query` besides the user;
    each store adds its placeholder after the operator."""
    filters = (
        ("end_ts >", None if query.start is None else instant(query.start)),
        ("start_ts <", None if query.end is None else instant(query.end)),
        ("type =", None if query.type is None else plain(query.type)),
        ("project =", query.project),
    )
    for name, value in (("type", query.type), ("project", query.project)):
        refuse_nul(name, value)
    return [(clause, value) for clause, value in filters if value is not None]
