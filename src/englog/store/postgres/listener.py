"""The LISTEN side of PostgreSQL notifications: whatever makes tasks claimable sends
`NOTIFY englog_tasks` in its own transaction (`notify`); each store LISTENs on a
dedicated connection and wakes its process's listeners when another replica did so."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger("englog.store.postgres")

CHANNEL = "englog_tasks"
# Sent by every account change (`PostgresStore._ANNOUNCE_ACCOUNTS`): the replicas
# forget the tokens they verified (englog.server.token_cache).
ACCOUNTS_CHANNEL = "englog_accounts"
MAX_OWN_BACKENDS = 64  # forgotten past this: at worst one needless cache flush
CONNECT_TIMEOUT_S = 10.0
LISTEN_RETRY_MAX_S = 5.0
# InternalClientError: what asyncpg raises when a connection ended under an operation
# (pg_terminate_backend, a crash) is reset on its way back to the pool ("cannot switch
# to state ..."): the backend went away like any other, not a bug to answer 500 with.
BACKEND_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


async def notify(conn: asyncpg.Connection) -> None:
    """Delivered to every listener when (and only if) the transaction commits."""
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


class Listener:
    """One dedicated connection LISTENing on CHANNEL; reconnects with capped backoff.
    After each (re)connect the callbacks run once, since notifications sent while the
    connection was down are lost."""

    def __init__(
        self,
        dsn: str,
        callbacks: list[Callable[[], None]],
        on_accounts: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_accounts`: called on ACCOUNTS_CHANNEL, and after each (re)connect."""
        self._dsn = dsn
        self._callbacks = callbacks
        self._on_accounts = on_accounts
        self._own: set[int] = set()  # backend pids of this process's announcing connections
        self._lost = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="englog-pg-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect()
                delay = 0.1
                self._fire()
                await self._lost.wait()
                log.warning("listen_connection_lost")
            except BACKEND_ERRORS as exc:
                log.warning("listen_connect_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(LISTEN_RETRY_MAX_S, delay * 2)
            finally:
                self.connected.clear()
                await self._drop()

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_S)
        self._conn = conn
        conn.add_termination_listener(lambda _c: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        await conn.add_listener(ACCOUNTS_CHANNEL, self._on_accounts_notify)
        self._on_accounts()  # whatever changed while the connection was down
        self.connected.set()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()  # no round trip: the connection may be half dead

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self._fire()

    def note_own(self, pid: int) -> None:
        """A connection of this process's pool that announces account changes: its
        notifications are not news here (the write moved the generation on already;
        hearing it again would only empty the verified-token cache)."""
        if len(self._own) > MAX_OWN_BACKENDS:  # the pool replaced its connections
            self._own.clear()
        self._own.add(pid)

    def _on_accounts_notify(self, _conn: Any, pid: int, _channel: str, _payload: str) -> None:
        if pid not in self._own:
            self._on_accounts()

    def _fire(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception as exc:  # one bad listener must not stop the others
                log.error("task_listener_failed", error=repr(exc))
