"""`englog workers create|list|revoke`: each worker's own credential, on the database
(like `englog users create`). A credential is a token bound to one worker id: its
holder may register only as that worker, and nobody else may register as it."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from englog.cli._app import console, err, fail, workers_app

T = TypeVar("T")
DbOpt = Annotated[str, typer.Option(envvar="ENGLOG_DB", help="Store URL")]
MAX_WORKER_ID = 128


def _on_store(db: str, work: Callable[..., Awaitable[T]]) -> T:
    from englog.store import StoreError, open_store

    async def run() -> T:
        store = open_store(db)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc))


def _checked_id(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_WORKER_ID or not name.isprintable():
        fail(f"worker id must be 1 to {MAX_WORKER_ID} printable characters")
    return name


@workers_app.command("create")
def workers_create(
    name: Annotated[str, typer.Argument(help="Worker id the credential is bound to")],
    db: DbOpt = "sqlite:///englog.db",
) -> None:
    """Create a credential for worker NAME and print its token (alone on the last line).
    Run that worker with ENGLOG_WORKER_TOKEN set to it and --worker-id NAME. Creating
    again replaces (revokes) the previous one."""
    from englog.domain.tokens import hash_token, new_token

    worker_id = _checked_id(name)
    token = new_token("wkr_")
    _on_store(
        db, lambda store: store.create_worker_credential(worker_id, hash_token(token), time.time())
    )
    err.print(f"created a credential for worker {worker_id!r}; keep this token, it is shown once:")
    print(token)


@workers_app.command("list")
def workers_list(db: DbOpt = "sqlite:///englog.db") -> None:
    """List the workers that have their own credential."""
    found = _on_store(db, lambda store: store.list_worker_credentials())
    table = Table("worker id", "created", "revoked")
    for c in found:
        table.add_row(c.worker_id, _when(c.created_at), _when(c.revoked_at) or "-")
    console.print(table)


@workers_app.command("revoke")
def workers_revoke(
    name: Annotated[str, typer.Argument(help="Worker id")],
    db: DbOpt = "sqlite:///englog.db",
) -> None:
    """Revoke worker NAME's credential; its sessions end (within seconds on a running
    server)."""
    worker_id = _checked_id(name)
    done = _on_store(db, lambda store: store.revoke_worker_credential(worker_id, time.time()))
    if not done:
        fail(f"worker {worker_id!r} has no credential to revoke")
    err.print(f"revoked the credential of worker {worker_id!r}")


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
