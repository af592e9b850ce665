"""PostgreSQL: workers' own credentials (hashes only), on the store's pool (`_execute`,
`_fetch`, `_fetchrow` of `PostgresStore`)."""

from __future__ import annotations

from typing import Any

from englog.store import records
from englog.store import sql as _sql
from englog.store.sql import numbered


class PostgresWorkerCredentials:
    _execute: Any
    _fetch: Any
    _fetchrow: Any

    async def create_worker_credential(self, worker_id: str, token_hash: str, now: float) -> None:
        await self._execute(numbered(_sql.UPSERT_CREDENTIAL), worker_id, token_hash, now)

    async def worker_for_credential(self, token_hash: str) -> str | None:
        row = await self._fetchrow(numbered(_sql.CREDENTIAL_WORKER), token_hash)
        return None if row is None else str(row["worker_id"])

    async def has_worker_credential(self, worker_id: str) -> bool:
        return await self._fetchrow(numbered(_sql.HAS_CREDENTIAL), worker_id) is not None

    async def list_worker_credentials(self) -> list[records.WorkerCredential]:
        return [records.WorkerCredential(*r) for r in await self._fetch(_sql.CREDENTIALS)]
