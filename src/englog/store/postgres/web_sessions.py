"""PostgreSQL: the web app's sign-in sessions (hashes only), on the store's pool
(`_execute`, `_fetchrow` of `PostgresStore`)."""

from __future__ import annotations

from typing import Any

from englog.store import records
from englog.store import sql as _sql
from englog.store.sql import numbered


class PostgresWebSessions:
    _execute: Any
    _fetchrow: Any

    async def create_web_session(self, session: records.WebSession) -> None:
        await self._execute(
            _CREATE_WEB_SESSION,
            session.id_hash,
            session.token_hash,
            session.csrf,
            session.created_at,
            session.expires_at,
        )

    async def get_web_session(self, id_hash: str, now: float) -> records.WebSession | None:
        row = await self._fetchrow(_WEB_SESSION, id_hash, now)
        return None if row is None else records.WebSession(**dict(row))

    async def delete_web_session(self, id_hash: str) -> bool:
        return await self._execute(_DELETE_WEB_SESSION, id_hash) != "DELETE 0"

    async def prune_web_sessions(self, now: float) -> int:
        status = await self._execute(_PRUNE_WEB_SESSIONS, now)
        return int(status.split()[-1])


_CREATE_WEB_SESSION = numbered(_sql.CREATE_WEB_SESSION)
_WEB_SESSION = numbered(_sql.WEB_SESSION)
_DELETE_WEB_SESSION = numbered(_sql.DELETE_WEB_SESSION)
_PRUNE_WEB_SESSIONS = numbered(_sql.PRUNE_WEB_SESSIONS)
