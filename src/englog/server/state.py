"""What the HTTP API and the gRPC service share inside one server process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from englog.server.metrics import ServerMetrics
from englog.server.queue import TaskQueue
from englog.server.settings import DAY_S, ServerSettings
from englog.server.token_cache import VerifiedTokens
from englog.server.watch import TaskWatch
from englog.server.worker_auth import WorkerAuth
from englog.store.base import Store, User

__all__ = ["BUILTIN_TASK_TYPES", "DAY_S", "ServerSettings", "ServerState"]

BUILTIN_TASK_TYPES: frozenset[str] = frozenset(
    {"insight_generation", "weekly_report", "noop", "sleep"}
)


@dataclass(slots=True)
class ServerState:
    """One per server process. The routes and the gRPC service read from it; they change
    tasks only through `queue`, which is built from the same store, watch, metrics and
    clock."""

    store: Store
    settings: ServerSettings
    # Task types the server accepts: built-ins plus whatever registered workers declare.
    known_types: set[str] = field(default_factory=lambda: set(BUILTIN_TASK_TYPES))
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    # Cache of the store's sessions: session token hash -> (worker id, the identity
    # that opened it). Entries of a worker declared dead are dropped with
    # `forget_workers`.
    sessions: dict[str, tuple[str, str]] = field(default_factory=dict)
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    # API token hash -> (monotonic expiry, user): see englog.server.auth.principal_for.
    users_by_token: dict[str, tuple[float, User]] = field(default_factory=dict)
    # API token hash -> its owner, verified within the last second (auth._user_by_hash).
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    # Web session id hash -> (monotonic expiry, user id; None for the admin): sessions
    # this process has seen signed in, so the rate limits count a browser's requests
    # against its user instead of its address (englog.server.http.limits).
    web_viewers: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    # Long-polling GET /v1/tasks/{id}?wait_s=: woken after terminal states commit.
    watch: TaskWatch = field(default_factory=TaskWatch)
    # Every task state change goes through it (and its dispatcher, the worker streams).
    queue: TaskQueue = field(init=False)
    # Worker tokens to identities (shared tokens, and workers' own credentials).
    worker_auth: WorkerAuth = field(init=False)

    def __post_init__(self) -> None:
        self.worker_auth = WorkerAuth(self.store, self.settings.worker_tokens)
        self.queue = TaskQueue(
            self.store, self.settings, watch=self.watch, metrics=self.metrics, clock=self.clock
        )

    def forget_workers(self, worker_ids: set[str]) -> None:
        """Drop cached sessions of workers whose sessions the store deleted."""
        self.sessions = {h: s for h, s in self.sessions.items() if s[0] not in worker_ids}

    async def probe_store(self) -> None:
        """Raise what the store raises when it cannot answer. The cheapest read every
        backend serves (a primary-key lookup), for health checks called every few
        seconds: no count, no scan."""
        await self.store.get_session("")
