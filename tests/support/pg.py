"""Throwaway PostgreSQL databases on the machine's server (127.0.0.1:5432, trust auth).

Tests create a uniquely named database and drop it afterwards. An unreachable server
fails the test loudly: CI has PostgreSQL, so a skip would hide a broken setup."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator

import asyncpg

PG_SERVER = os.environ.get("ENGLOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
_ADMIN_DB = "postgres"
_CONNECT_TIMEOUT_S = 10.0


def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


async def _admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(database_url(_ADMIN_DB), timeout=_CONNECT_TIMEOUT_S)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is required for these tests and is unreachable at {PG_SERVER}: {exc}"
        ) from exc
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(prefix: str = "englog_test") -> str:
    """A new empty database; returns its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    await _admin(f'CREATE DATABASE "{name}"')
    return database_url(name)


async def drop_database(url: str) -> None:
    """Drop it even while connections (a killed server's, say) are still open."""
    name = url.rsplit("/", 1)[1]
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_database(prefix: str = "englog_test") -> Iterator[str]:
    """Synchronous form for fixtures outside an event loop and for process tests."""
    url = asyncio.run(create_database(prefix))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def truncate_all(url: str) -> None:
    """Empty every table but schema_migrations, so one migrated database serves many
    tests."""
    conn = await asyncpg.connect(url, timeout=_CONNECT_TIMEOUT_S)
    try:
        tables = [
            row["tablename"]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_migrations'"
            )
        ]
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
