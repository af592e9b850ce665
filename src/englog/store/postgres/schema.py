"""PostgreSQL schema migrations and connection set-up. Migrations run at open() under
a transaction-scoped advisory lock, so replicas starting together take turns."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import asyncpg

from englog.store.migrations import migration_files

# Any constant works; it only has to be the same for every englog process.
MIGRATION_LOCK = 0x656E_676C_6F67  # "englog"
MIGRATION_FILE = re.compile(r"^postgres_(\d+)_[\w-]+\.sql$")


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations in one transaction; the advisory lock makes replicas
    that start together take turns, and the later ones find nothing left to do."""
    applied = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at double precision NOT NULL)"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, script in migration_files(MIGRATION_FILE):
            if version in done:
                continue
            await conn.execute(script)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                version,
                name,
                time.time(),
            )
            applied.append(name)
    return applied


# PostgreSQL's default (`auto`) plans a prepared statement afresh at every run while
# that plan looks cheaper than a generic one. The queue's statements take their rows
# as arrays (`unnest`), and a plan for the arrays at hand always looks cheaper than
# one for arrays of unknown length, so a watched result's completion was planned at
# every report: 0.4-1.1 ms of PostgreSQL's CPU at 20,000 tasks (its run then 0.1 ms),
# on a round trip's path. Generic plans are made once per pooled connection, and
# `growth.GrowthReplanner` renews the connections while the table grows.
# An operator's URL may choose otherwise (`?plan_cache_mode=auto`).
GENERIC_PLANS = {"plan_cache_mode": "force_generic_plan"}


def server_settings(url: str) -> dict[str, str]:
    """The settings each pooled connection asks for at start-up (no round trip), unless
    the URL sets them itself (asyncpg passes a URL's unknown parameters as settings)."""
    asked = parse_qs(urlsplit(url).query)
    return {k: v for k, v in GENERIC_PLANS.items() if k not in asked}


async def init_connection(conn: asyncpg.Connection) -> None:
    """JSON codecs for every pooled connection."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def reset_connection(conn: asyncpg.Connection) -> None:
    """What a pooled connection needs on its way back to the pool: nothing beyond the
    rollback of an open transaction, which asyncpg's pool does before calling this.
    asyncpg's default reset runs `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` on every release: one more round trip after every statement,
    awaited before the caller is answered. The store leaves no session state behind:
    its advisory locks are transaction-scoped, it declares no cursors outside a
    transaction, sets no session variables, and LISTENs on a connection of its own."""
