"""Backups, restores and schema upgrades outside the server (`englog db ...`).

SQLite: a backup is taken with SQLite's online backup API while the server keeps
serving (a consistent snapshot, WAL included), checked, and moved into place atomically;
a restore copies a checked backup into the target through the same API. PostgreSQL has
its own tools (pg_dump, pg_restore): these functions say so rather than half-do it."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from englog.errors import EnglogError
from englog.store import open_store
from englog.store.base import StoreError
from englog.store.migrations import migration_files
from englog.store.postgres.schema import MIGRATION_FILE as PG_MIGRATION_FILE
from englog.store.sqlite.schema import MIGRATION_FILE as SQLITE_MIGRATION_FILE

SQLITE_PREFIX = "sqlite:///"
PAGES_PER_STEP = 1024  # the backup copies this many pages, then lets writers in
PG_DUMP_HINT = (
    "for PostgreSQL use its own tools: pg_dump --format=custom --file=FILE URL to back up, "
    "pg_restore --clean --dbname=URL FILE to restore (docs/operations.md)"
)


class MaintenanceError(EnglogError):
    """Something the operator can fix; the message says what."""


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:/// URL; MaintenanceError for any other URL."""
    if url.startswith(("postgresql://", "postgres://")):
        raise MaintenanceError(PG_DUMP_HINT)
    if not url.startswith(SQLITE_PREFIX):
        raise MaintenanceError(f"unsupported database URL {url!r}: use sqlite:///PATH")
    path = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise MaintenanceError(f"database URL {url!r} needs a file path")
    return Path(path)


@dataclass(frozen=True, slots=True)
class Checked:
    """What a backup file holds, once SQLite has checked it."""

    schema_version: int
    tasks: int
    entries: int
    size_bytes: int


def check_backup(path: Path) -> Checked:
    """Open `path` read-only and check it is a whole englog database."""
    if not path.is_file():
        raise MaintenanceError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise MaintenanceError(f"{path}: cannot open: {exc}") from exc
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise MaintenanceError(f"{path}: damaged: {verdict}")
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        tasks = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise MaintenanceError(f"{path}: not an englog database: {exc}") from exc
    finally:
        conn.close()
    return Checked(int(version or 0), int(tasks), int(entries), path.stat().st_size)


def backup(url: str, target: Path) -> Checked:
    """Copy the live database at `url` into `target` (replaced only once the copy is
    whole and checked)."""
    source = sqlite_path(url)
    if not source.is_file():
        raise MaintenanceError(f"{source}: no such database")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        checked = check_backup(partial)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        partial.replace(target)
    except sqlite3.Error as exc:
        raise MaintenanceError(f"backup of {source} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return checked


def restore(backup_file: Path, url: str, *, force: bool) -> Checked:
    """Put a checked backup in place of the database at `url`. The server must be
    stopped; an existing database is replaced only with `force`. Migrations newer than
    the backup run at the next start (or `englog db migrate`)."""
    checked = check_backup(backup_file)
    target = sqlite_path(url)
    if target.exists() and not force:
        raise MaintenanceError(
            f"{target} exists: stop the server and add --force to replace it with {backup_file}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        dst = sqlite3.connect(target, timeout=1)
        try:
            # Fails (database is locked) while a server writes to it.
            dst.execute("BEGIN EXCLUSIVE")
            dst.execute("ROLLBACK")
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.OperationalError as exc:
        raise MaintenanceError(f"cannot restore into {target} ({exc}): stop the server") from exc
    return checked


async def pending_migrations(url: str) -> list[str]:
    """Names of the packaged migrations the database at `url` has not applied."""
    if url.startswith(("postgresql://", "postgres://")):
        import asyncpg

        try:
            conn = await asyncpg.connect(url, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise MaintenanceError(f"cannot connect to {url}: {exc}") from exc
        try:
            exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
            rows = await conn.fetch("SELECT version FROM schema_migrations") if exists else []
        finally:
            await conn.close()
        done = {r["version"] for r in rows}
        return [name for v, name, _ in migration_files(PG_MIGRATION_FILE) if v not in done]
    path = sqlite_path(url)
    done_sqlite: set[int] = set()
    if path.exists():
        conn_s = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows_s = conn_s.execute("SELECT version FROM schema_migrations").fetchall()
            done_sqlite = {int(r[0]) for r in rows_s}
        except sqlite3.OperationalError:
            done_sqlite = set()  # a new or empty file: everything is pending
        finally:
            conn_s.close()
    return [n for v, n, _ in migration_files(SQLITE_MIGRATION_FILE) if v not in done_sqlite]


async def migrate(url: str) -> list[str]:
    """Apply the pending migrations (what a server does at start) and name them."""
    pending = await pending_migrations(url)
    store = open_store(url)
    try:
        await store.open()
    except StoreError as exc:
        raise MaintenanceError(str(exc)) from exc
    finally:
        await store.close()
    return pending
