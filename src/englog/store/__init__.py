"""Persistence behind one `Store` interface; `open_store` picks the backend from a URL.

Layout: `base` (the `Store` interface and its errors), `records` (the values it takes
and returns), `rows` (rows into domain objects), `entries` and `sql` (entry rules and
SQL both backends share), `migrations`, and one package per backend, `sqlite` and
`postgres`. The rules of the task queue themselves live in `englog.domain`.

`PostgresStore` is imported on first use: a server on SQLite never loads asyncpg
(2.6 MB of resident memory)."""

from __future__ import annotations

from typing import Any

from englog.domain.policy import QueuePolicy
from englog.store.base import IdempotencyKeyReused, InvalidData, Store, StoreClosed, StoreError
from englog.store.records import (
    Claim,
    EntryQuery,
    Heartbeat,
    HeartbeatReply,
    LostWorkers,
    Session,
    User,
    WorkerInfo,
    WorkerRecord,
)
from englog.store.sqlite import SQLiteStore

__all__ = [
    "Claim",
    "EntryQuery",
    "Heartbeat",
    "HeartbeatReply",
    "IdempotencyKeyReused",
    "InvalidData",
    "LostWorkers",
    "PostgresStore",
    "QueuePolicy",
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


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from englog.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DEFAULT_POLICY = QueuePolicy()


def open_store(url: str, *, policy: QueuePolicy = _DEFAULT_POLICY) -> Store:
    """Build (not open) the store a URL names, running its queue by `policy`.

    `sqlite:///relative/path.db` and `sqlite:////absolute/path.db` give SQLite;
    `postgresql://user@host:port/db` (or `postgres://`) gives PostgreSQL."""
    if url.startswith(_SQLITE_PREFIX):
        path = url[len(_SQLITE_PREFIX) :].split("?", 1)[0]
        if not path or path == ":memory:":
            raise ValueError(f"database URL {url!r} needs a file path, e.g. sqlite:///englog.db")
        return SQLiteStore(path, policy=policy)
    if url.startswith(("postgresql://", "postgres://")):
        from englog.store.postgres import PostgresStore

        return PostgresStore(url, policy=policy)
    raise ValueError(
        f"unsupported database URL {url!r}: use sqlite:///relative.db, "
        "sqlite:////absolute/path.db or postgresql://user@host:5432/db"
    )
