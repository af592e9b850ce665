"""Persistence behind one `Store` interface; `open_store` picks the backend from a URL."""

from __future__ import annotations

from englog.store.base import (
    EntryQuery,
    Session,
    Store,
    StoreClosed,
    StoreError,
    User,
    WorkerInfo,
    WorkerRecord,
)
from englog.store.postgres import PostgresStore
from englog.store.sqlite import SQLiteStore

__all__ = [
    "EntryQuery",
    "PostgresStore",
    "SQLiteStore",
    "Session",
    "Store",
    "StoreClosed",
    "StoreError",
    "User",
    "WorkerInfo",
    "WorkerRecord",
    "open_store",
]

_SQLITE_PREFIX = "sqlite:///"


def open_store(url: str) -> Store:
    """Build (not open) the store a URL names.

    `sqlite:///relative/path.db` and `sqlite:////absolute/path.db` give SQLite;
    `postgresql://user@host:port/db` (or `postgres://`) gives PostgreSQL."""
    if url.startswith(_SQLITE_PREFIX):
        path = url[len(_SQLITE_PREFIX) :].split("?", 1)[0]
        if not path or path == ":memory:":
            raise ValueError(f"database URL {url!r} needs a file path, e.g. sqlite:///englog.db")
        return SQLiteStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise ValueError(
        f"unsupported database URL {url!r}: use sqlite:///relative.db, "
        "sqlite:////absolute/path.db or postgresql://user@host:5432/db"
    )
