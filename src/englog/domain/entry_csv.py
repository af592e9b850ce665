"""Entries as CSV, one format both ways: `GET /v1/me/export?format=csv` writes it and
`englog import FILE` reads it back. Times are ISO 8601 with their offset, as stored;
tags are a JSON array in one cell (a tag may hold any character, commas included)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from englog.domain.entries import EntryFields
from englog.errors import EnglogError

# What a new entry is made of (the rest is the server's): the REST body's fields, in order.
ENTRY_FIELDS: tuple[str, ...] = tuple(EntryFields.model_fields)
COLUMNS = ("id", *ENTRY_FIELDS, "created_at", "updated_at")


class BadCsv(EnglogError, ValueError):
    """A file that is not an englog export: says which line and why."""


def to_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        row = {k: ("" if entry.get(k) is None else entry.get(k)) for k in COLUMNS}
        row["tags"] = json.dumps(list(entry.get("tags") or []), ensure_ascii=False)
        writer.writerow(row)
    return out.getvalue()


def from_csv(text: str) -> list[dict[str, Any]]:
    """The entries of an export, as the fields `POST /v1/entries/bulk` takes."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [
        c for c in ("title", "type", "start_time", "end_time") if c not in (reader.fieldnames or [])
    ]
    if missing:
        raise BadCsv(f"not an englog export: no column {', '.join(missing)}")
    found = []
    for line, row in enumerate(reader, start=2):
        entry: dict[str, Any] = {}
        for field in ENTRY_FIELDS:
            value = (row.get(field) or "").strip() if field != "description" else row.get(field)
            if value:
                entry[field] = value
        try:
            tags = json.loads(row.get("tags") or "[]")
        except json.JSONDecodeError:
            raise BadCsv(f'line {line}: tags must be a JSON array, such as ["ci"]') from None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BadCsv(f"line {line}: tags must be a JSON array of strings")
        entry["tags"] = tags
        found.append(entry)
    return found
