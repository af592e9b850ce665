"""Who a gRPC caller is: a worker token resolved to an identity.

Two kinds of worker credential exist:
- a *shared* token (`ENGLOG_WORKER_TOKENS`): any holder may register under any worker
  id not held by another identity, so its holders can pose as each other (the server
  warns at start-up); kept for one-machine setups and scripts;
- a worker's *own* credential (`englog workers create NAME`): a token bound to the
  worker id NAME, stored as a hash. Its holder may register only as NAME, and a worker
  id with an own credential may be registered by nobody else.

The identity that opened a session is kept with it: a call on that session (a result,
progress) is honoured only from the same identity. Lookups are cached for a few
seconds, so a revoked credential stops working within `CACHE_TTL_S`; unknown tokens
are remembered briefly too, so a flood of forged tokens costs few store reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from englog.domain.tokens import hash_token, tokens_match
from englog.store.base import Store

SHARED = "shared"
CACHE_TTL_S = 5.0
CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """The credential behind a call: shared, or bound to one worker id."""

    worker_id: str | None  # None: a shared token

    @property
    def key(self) -> str:
        """As stored with sessions: "shared" or "worker:<id>"."""
        return SHARED if self.worker_id is None else f"worker:{self.worker_id}"

    def may_register(self, worker_id: str) -> bool:
        return self.worker_id is None or self.worker_id == worker_id


SHARED_IDENTITY = WorkerIdentity(None)


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of an `authorization: Bearer <token>` metadata entry."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class WorkerAuth:
    """Resolves worker tokens (shared ones from settings, own ones from the store)."""

    def __init__(self, store: Store, shared_tokens: Iterable[str]) -> None:
        self._store = store
        self._shared = [hash_token(t) for t in shared_tokens]
        # token hash -> (valid until, identity or None for unknown)
        self._cache: dict[str, tuple[float, WorkerIdentity | None]] = {}

    async def identify(self, token: str | None) -> WorkerIdentity | None:
        """The identity a token stands for; None for a missing or unknown one."""
        if not token:
            return None
        given = hash_token(token)
        if any(tokens_match(given, known) for known in self._shared):
            return SHARED_IDENTITY
        now = time.monotonic()
        cached = self._cache.get(given)
        if cached is not None and cached[0] > now:
            return cached[1]
        worker_id = await self._store.worker_for_credential(given)
        identity = None if worker_id is None else WorkerIdentity(worker_id)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[given] = (now + CACHE_TTL_S, identity)
        return identity

    def forget(self) -> None:
        """Drop what is cached (after a revocation in this process)."""
        self._cache.clear()
