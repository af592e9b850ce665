"""PostgreSQL entry operations, each on a connection inside a transaction: whole
batches go in one statement (unnest over one array per column)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from englog.domain.entries import Entry, EntryFields
from englog.domain.tokens import new_id
from englog.store.entries import (
    ENTRY_COLUMNS,
    ENTRY_FIELDS,
    changed_columns,
    check_entry_changes,
    entry_filters,
    entry_values,
)
from englog.store.records import EntryQuery
from englog.store.rows import entry_from_row

# One array per column of `ENTRY_FIELDS` ($4...), the ids in $3; tags go in as JSON text.
_VALUES = ", ".join(f"e.{c}::jsonb" if c == "tags" else f"e.{c}" for c in ENTRY_FIELDS)
_ARRAYS = ", ".join(
    f"${i}::{'float8' if c in ('start_ts', 'end_ts') else 'text'}[]"
    for i, c in enumerate(ENTRY_FIELDS, 4)
)
_INSERT = (
    f"INSERT INTO entries ({', '.join(ENTRY_COLUMNS)}) SELECT e.id, $1, {_VALUES}, $2, $2"
    f" FROM unnest($3::text[], {_ARRAYS}) AS e(id, {', '.join(ENTRY_FIELDS)}) RETURNING *"
)


async def insert_entries(
    conn: asyncpg.Connection, user_id: str, entries: Sequence[EntryFields], now: float
) -> list[Entry]:
    ids = [new_id() for _ in entries]
    columns: list[list[Any]] = [[] for _ in ENTRY_FIELDS]
    for fields in entries:
        for column, value in zip(columns, entry_values(fields, json.dumps), strict=True):
            column.append(value)
    rows = await conn.fetch(_INSERT, user_id, now, ids, *columns)
    position = {entry_id: i for i, entry_id in enumerate(ids)}
    return [entry_from_row(row) for row in sorted(rows, key=lambda r: position[r["id"]])]


async def update_entry(
    conn: asyncpg.Connection, user_id: str, entry_id: str, changes: Mapping[str, Any], now: float
) -> Entry | None:
    check_entry_changes(changes)
    row = await conn.fetchrow(
        "SELECT * FROM entries WHERE id = $1 AND user_id = $2 FOR UPDATE", entry_id, user_id
    )
    if row is None:
        return None
    columns = changed_columns(row, changes, list) | {"updated_at": now}
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, 3))
    updated = await conn.fetchrow(
        f"UPDATE entries SET {assignments} WHERE id = $1 AND user_id = $2 RETURNING *",
        entry_id,
        user_id,
        *columns.values(),
    )
    return entry_from_row(updated)  # validates the merged entry; a bad value rolls back


def list_query(user_id: str, query: EntryQuery) -> tuple[str, list[Any]]:
    """The SELECT for `list_entries` and its arguments."""
    where, args = ["user_id = $1"], [user_id]
    for clause, value in entry_filters(query):
        args.append(value)
        where.append(f"{clause} ${len(args)}")
    sql = (
        f"SELECT * FROM entries WHERE {' AND '.join(where)} ORDER BY start_ts, id"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
    )
    return sql, [*args, max(0, query.limit), max(0, query.offset)]
