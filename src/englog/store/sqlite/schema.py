"""SQLite connections and schema migrations. The writer connection runs in WAL mode
with the automatic checkpoint off (the writer thread checkpoints); readers are
query-only and see the last commit without waiting for the writer."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from englog.store.base import StoreError
from englog.store.migrations import migration_files
from englog.store.sqlite.writer import rollback

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
# Key lookups run on the event loop (`SQLiteStore._lookup`): they never wait longer
# than this for a lock; a busy database sends them to the reader thread instead.
LOOKUP_BUSY_TIMEOUT_MS = 5
# Every WAL frame is a whole page, and a commit writes each page it touched (the row,
# every index it changes, the attempt and key rows): with 1 KiB pages instead of
# SQLite's 4 KiB a round trip writes 28 KB instead of 72, the client pattern 13 KB per
# task instead of 30, at no CPU cost (measured; docs/benchmarks.md, "Disk writes").
# Only a new database takes it: an existing file keeps the page size it was made with.
PAGE_SIZE = 1024
MIGRATION_FILE = re.compile(r"^sqlite_(\d+)_[\w-]+\.sql$")


def connect(
    path: str, *, writer: bool, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        # The writer connection is also used on the event loop, under the writer's lock.
        check_same_thread=not writer,
    )
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        if writer:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new database only
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"SQLite refused WAL mode (got {mode!r})")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the writer thread's job
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if not writer:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise StoreError(f"unterminated statement in migration: {buffer.strip()[:80]!r}")


def migrate(conn: sqlite3.Connection) -> None:
    """Apply each pending migration in its own transaction, recorded in schema_migrations."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    for version, name, script in migration_files(MIGRATION_FILE):
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            if done is None:
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise


def in_read_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """One snapshot per read call, so multi-statement reads are consistent."""
    conn.execute("BEGIN")
    try:
        return fn(conn)
    finally:
        rollback(conn)


# A read that scans a whole index (the pending count: every recount, /health and
# /metrics) would fill its connection's page cache, 2 MB by default, with pages no other
# read wants, and the server's RSS keeps that high-water mark (measured: +2.3 MB at the
# first recount of a 100,000-task backlog). A scan gains nothing from a cache it
# overflows, so it reads through a small one.
SCAN_CACHE_KIB = 64


def through_small_cache(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` with the connection's page cache at SCAN_CACHE_KIB, then restore it."""
    usual = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{SCAN_CACHE_KIB}")
    try:
        return fn(conn)
    finally:
        conn.execute(f"PRAGMA cache_size = {int(usual)}")
