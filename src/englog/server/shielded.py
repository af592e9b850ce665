"""Work that must finish once it has started, whoever stops waiting for it.

A gRPC handler is cancelled when its worker's connection is cut. If that happens while
the handler awaits a store write, the write may still commit (SQLite's writer runs it
regardless; a PostgreSQL statement may be past its point of no return), and what the
server does after a commit (counters, waiters, freed slots, the pending count) must
then happen too. asyncio.shield does that; this keeps the shielded task referenced
until it ends and retrieves an error nobody awaits any more."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_running: set[asyncio.Future[Any]] = set()


async def finish_anyway(work: Coroutine[Any, Any, T]) -> T:
    """Await `work`; if the caller is cancelled meanwhile, `work` still runs to its end."""
    job = asyncio.ensure_future(work)
    _running.add(job)
    job.add_done_callback(_ended)
    return await asyncio.shield(job)


def _ended(job: asyncio.Future[Any]) -> None:
    _running.discard(job)
    if not job.cancelled():
        job.exception()  # marked retrieved: a cancelled caller no longer awaits it
