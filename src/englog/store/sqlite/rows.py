"""SQLite rows into domain objects (JSON columns are text here), and the IN (...) lists
SQLite needs where PostgreSQL takes an array."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from englog import json_loads
from englog.domain.entries import Entry
from englog.domain.tasks import Task
from englog.store.records import WorkerRecord
from englog.store.rows import (
    attempt_from_row,
    entry_from_row,
    session_from_row,
    task_from_row,
    worker_from_row,
)

T = TypeVar("T")
IN_CHUNK = 500  # ids per IN (...) list, rows per VALUES list: well under SQLite's limit

attempt = attempt_from_row
session = session_from_row


def loads(text: str | None) -> Any:
    return None if text is None else json_loads.loads(text)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def task(row: sqlite3.Row) -> Task:
    return task_from_row(row, loads)


def entry(row: sqlite3.Row) -> Entry:
    return entry_from_row(row, loads)


def worker(row: sqlite3.Row) -> WorkerRecord:
    return worker_from_row(row, loads)


def chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def marks(count: int) -> str:
    return ", ".join("?" * count)
