"""Upgrading a database written before accounts (issue 23): a checked-in SQLite file
written by that code, and on SQLite and PostgreSQL the schema as it was (the
migrations up to sqlite 0005 / postgres 0004) with users, tokens and entries written
as that code wrote them, including two users of one name.
After the upgrade every old token still works, the later duplicate is renamed (its
entries kept), old tokens are listed and revocable, and new accounts work beside them."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from englog.domain.tokens import hash_token
from englog.server.http import create_http_app
from englog.server.settings import ServerSettings
from englog.server.state import ServerState
from englog.store.base import Store
from englog.store.migrations import migration_files
from englog.store.postgres import PostgresStore
from englog.store.postgres.schema import MIGRATION_FILE as PG_FILES
from englog.store.sqlite import SQLiteStore
from englog.store.sqlite.schema import MIGRATION_FILE as SQLITE_FILES
from englog.store.sqlite.schema import _statements
from tests.support.pg import create_database, drop_database

# The last migration of each backend before accounts.
BEFORE = {"sqlite": 5, "postgres": 4}
USERS = [("u1", "ada", "ada-token", 1.0), ("u2", "grace", "grace-token", 2.0),
         ("u3", "ada", "other-ada-token", 3.0)]  # fmt: skip
ENTRY = (
    "INSERT INTO entries (id, user_id, title, type, start_time, end_time, start_ts, end_ts,"
    " value_rating, impact_level, created_at, updated_at) VALUES"
    " ('e-{u}', '{u}', 'old work of {u}', 'development', '2026-01-05T09:00:00+00:00',"
    " '2026-01-05T10:00:00+00:00', 1767603600, 1767607200, 'high', 'team', 1, 1)"
)


def _old_rows() -> list[str]:
    rows = [
        f"INSERT INTO users (id, name, token_hash, created_at) VALUES"
        f" ('{uid}', '{name}', '{hash_token(token)}', {at})"
        for uid, name, token, at in USERS
    ]
    return rows + [ENTRY.format(u=uid) for uid, *_ in USERS]


def write_old_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at REAL NOT NULL)"
    )
    for version, name, script in migration_files(SQLITE_FILES):
        if version <= BEFORE["sqlite"]:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, 0.0))
    for row in _old_rows():
        conn.execute(row)
    conn.close()


async def write_old_postgres(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at double precision NOT NULL)"
        )
        for version, name, script in migration_files(PG_FILES):
            if version <= BEFORE["postgres"]:
                await conn.execute(script)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES ($1, $2, 0)", version, name
                )
        for row in _old_rows():
            await conn.execute(row)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        write_old_sqlite(tmp_path / "old.db")
        store: Store = SQLiteStore(tmp_path / "old.db")
        await store.open()
        yield store
        await store.close()
        return
    url = await create_database("englog_upgrade")
    try:
        await write_old_postgres(url)
        store = PostgresStore(url)
        await store.open()
        try:
            yield store
        finally:
            await store.close()
    finally:
        await drop_database(url)


ADMIN = {"Authorization": "Bearer admintoken"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_old_users_tokens_and_entries_work_after_the_upgrade(upgraded: Store) -> None:
    state = ServerState(store=upgraded, settings=ServerSettings(admin_token="admintoken"))
    transport = httpx.ASGITransport(app=create_http_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
        for uid, _, token, _ in USERS:
            entries = (await api.get("/v1/entries", headers=bearer(token))).json()
            assert [e["title"] for e in entries["entries"]] == [f"old work of {uid}"]
        listed = await api.get("/v1/users", headers=bearer("admintoken"))
        names = {u["id"]: u["name"] for u in listed.json()["users"]}
        assert names["u1"] == "ada" and names["u2"] == "grace"
        assert names["u3"].startswith("ada-") and names["u3"] != "ada"
        me = (await api.get("/v1/me", headers=bearer("grace-token"))).json()
        assert me["role"] == "member" and me["has_password"] is False
        # The old token is listed and can be revoked like any other.
        tokens = (await api.get("/v1/me/tokens", headers=bearer("grace-token"))).json()["tokens"]
        assert [t["name"] for t in tokens] == ["first"]
        # An old account can get a password and trade it for a token.
        r = await api.post(
            "/v1/me/password", json={"new_password": "grace's pw!"}, headers=bearer("grace-token")
        )
        assert r.status_code == 204
        r = await api.post(
            "/v1/auth/token",
            json={"name": "grace", "password": "grace's pw!", "token_name": "laptop"},
        )
        assert r.status_code == 201
        new = r.json()["token"]
        gone = await api.delete(f"/v1/me/tokens/{tokens[0]['id']}", headers=bearer(new))
        assert gone.status_code == 204
        assert (await api.get("/v1/entries", headers=bearer("grace-token"))).status_code == 401
        assert (await api.get("/v1/entries", headers=bearer(new))).status_code == 200
        # Names stay unique after the upgrade.
        r = await api.post(
            "/v1/users",
            json={"name": "Grace", "password": "12345678"},
            headers=bearer("admintoken"),
        )
        assert r.status_code == 409


FIXTURE = Path(__file__).parent.parent / "fixtures" / "englog-before-accounts.db"


async def test_a_database_written_before_accounts_upgrades(tmp_path: Path) -> None:
    """tests/fixtures/englog-before-accounts.db was written by englog as it was before
    accounts (commit 3ba9886: `create_user`, `add_entries`, `set_user_settings`), with
    two users named ada."""
    copy = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, copy)
    store = SQLiteStore(copy)
    await store.open()
    try:
        state = ServerState(store=store, settings=ServerSettings(admin_token="admintoken"))
        transport = httpx.ASGITransport(app=create_http_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
            names = set()
            for token in ("ada-token", "grace-token", "other-ada-token"):
                listed = (await api.get("/v1/entries", headers=bearer(token))).json()["entries"]
                assert [e["title"] for e in listed] == [f"old work of {token}"]
                assert listed[0]["start_time"] == "2026-01-05T09:00:00+01:00"
                me = (await api.get("/v1/me", headers=bearer(token))).json()
                names.add(me["name"])
                assert me["role"] == "member"
            assert "ada" in names and "grace" in names and len(names) == 3
            zone = (await api.get("/v1/me", headers=bearer("other-ada-token"))).json()
            assert zone["timezone"] == "Europe/Berlin"
            made = await api.post(
                "/v1/users", json={"name": "ADA", "password": "12345678"}, headers=ADMIN
            )
            assert made.status_code == 409
    finally:
        await store.close()
