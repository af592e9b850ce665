"""SQLite entry operations, each run on a connection inside a transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from englog.domain.entries import Entry, EntryFields
from englog.domain.tokens import new_id
from englog.store.entries import (
    ENTRY_COLUMNS,
    changed_columns,
    check_entry_changes,
    entry_filters,
    entry_values,
)
from englog.store.records import EntryQuery
from englog.store.sqlite.rows import chunks, entry, marks

_INSERT = f"INSERT INTO entries ({', '.join(ENTRY_COLUMNS)}) VALUES ({marks(len(ENTRY_COLUMNS))})"


def insert_entries(
    conn: sqlite3.Connection, user_id: str, entries: Sequence[EntryFields], now: float
) -> list[Entry]:
    ids = []
    for fields in entries:
        entry_id = new_id()
        conn.execute(_INSERT, (entry_id, user_id, *entry_values(fields, json.dumps), now, now))
        ids.append(entry_id)
    return [entry(row) for row in entry_rows(conn, user_id, ids, in_order=False)]


def entry_rows(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str], *, in_order: bool
) -> list[sqlite3.Row]:
    """The user's entries among `ids`: in start_time order, or else in the order of `ids`."""
    rows: list[sqlite3.Row] = []
    for chunk in chunks(ids):
        rows += conn.execute(
            f"SELECT * FROM entries WHERE user_id = ? AND id IN ({marks(len(chunk))})",
            (user_id, *chunk),
        ).fetchall()
    if in_order:
        rows.sort(key=lambda r: (r["start_ts"], r["id"]))
    else:
        position = {entry_id: i for i, entry_id in enumerate(ids)}
        rows.sort(key=lambda r: position[r["id"]])
    return rows


def update_entry(
    conn: sqlite3.Connection, user_id: str, entry_id: str, changes: Mapping[str, Any], now: float
) -> Entry | None:
    check_entry_changes(changes)
    row = conn.execute(
        "SELECT * FROM entries WHERE id = ? AND user_id = ?", (entry_id, user_id)
    ).fetchone()
    if row is None:
        return None
    columns = changed_columns(row, changes, json.dumps) | {"updated_at": now}
    assignments = ", ".join(f"{name} = ?" for name in columns)
    conn.execute(
        f"UPDATE entries SET {assignments} WHERE id = ? AND user_id = ?",
        (*columns.values(), entry_id, user_id),
    )
    updated = conn.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
    return entry(updated)  # validates the merged entry; a bad value rolls back


def list_entries(conn: sqlite3.Connection, user_id: str, query: EntryQuery) -> list[Entry]:
    filters = entry_filters(query)
    where = ["user_id = ?", *(f"{clause} ?" for clause, _ in filters)]
    args = [user_id, *(value for _, value in filters)]
    rows = conn.execute(
        f"SELECT * FROM entries WHERE {' AND '.join(where)} ORDER BY start_ts, id LIMIT ? OFFSET ?",
        (*args, max(0, query.limit), max(0, query.offset)),
    ).fetchall()
    return [entry(row) for row in rows]


def delete_entry(conn: sqlite3.Connection, user_id: str, entry_id: str) -> bool:
    cursor = conn.execute("DELETE FROM entries WHERE id = ? AND user_id = ?", (entry_id, user_id))
    return cursor.rowcount > 0
