"""SQLite: the web app's sign-in sessions (hashes only), on the store's connections
(`_write`, `_lookup` of `SQLiteStore`)."""

from __future__ import annotations

from typing import Any

from englog.store import records
from englog.store import sql as _sql


class SQLiteWebSessions:
    _write: Any
    _lookup: Any

    async def create_web_session(self, session: records.WebSession) -> None:
        values = (
            session.id_hash,
            session.token_hash,
            session.csrf,
            session.created_at,
            session.expires_at,
        )
        await self._write(lambda conn: conn.execute(_sql.CREATE_WEB_SESSION, values))

    async def get_web_session(self, id_hash: str, now: float) -> records.WebSession | None:
        row = await self._lookup(
            lambda conn: conn.execute(_sql.WEB_SESSION, (id_hash, now)).fetchone()
        )
        return None if row is None else records.WebSession(**dict(row))

    async def delete_web_session(self, id_hash: str) -> bool:
        return await self._write(
            lambda conn: conn.execute(_sql.DELETE_WEB_SESSION, (id_hash,)).rowcount > 0
        )

    async def prune_web_sessions(self, now: float) -> int:
        return await self._write(
            lambda conn: conn.execute(_sql.PRUNE_WEB_SESSIONS, (now,)).rowcount
        )
