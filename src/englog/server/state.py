"""What the HTTP API and the gRPC service share inside one server process."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from englog.domain.tasks import DEFAULT_MAX_REASSIGNMENTS, NewTask, RetryBackoff, Task
from englog.server.metrics import ServerMetrics
from englog.server.watch import TaskWatch
from englog.store.base import DEFAULT_DEADLINE_GRACE_S, Store, User

DAY_S = 86_400.0

BUILTIN_TASK_TYPES: frozenset[str] = frozenset(
    {"insight_generation", "weekly_report", "noop", "sleep"}
)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Server configuration (CLI flags / ENGLOG_* variables, DESIGN "External interface")."""

    db_url: str = "sqlite:///englog.db"
    grpc_listen: str = "127.0.0.1:50051"
    http_listen: str = "127.0.0.1:8080"
    heartbeat_interval_s: float = 5.0
    lease_ttl_s: float = 30.0
    worker_tokens: tuple[str, ...] = ()
    admin_token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    reap_interval_s: float = 1.0
    retry_backoff: RetryBackoff = field(default_factory=RetryBackoff)
    max_payload_bytes: int = 1024 * 1024
    # A worker silent for this many heartbeat intervals is dead (DESIGN "Leases").
    missed_heartbeats: int = 3
    # Times a task may be taken back from lost workers before it FAILS.
    max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS
    # How long past its deadline a RUNNING task may stay before the server ends it.
    deadline_grace_s: float = DEFAULT_DEADLINE_GRACE_S
    # Finished tasks older than this are deleted in the background.
    retention_s: float = 7 * DAY_S
    prune_interval_s: float = 60.0
    prune_batch: int = 500
    idempotency_ttl_s: float = DAY_S

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s <= 0 or self.lease_ttl_s <= 0:
            raise ValueError("heartbeat interval and lease TTL must be positive")
        if self.missed_heartbeats < 1 or self.max_reassignments < 0:
            raise ValueError("missed_heartbeats must be >= 1 and max_reassignments >= 0")
        if self.retention_s <= 0:
            raise ValueError(f"retention must be positive, got {self.retention_s:g} s")

    @property
    def worker_dead_after_s(self) -> float:
        return self.missed_heartbeats * self.heartbeat_interval_s


@dataclass(slots=True)
class ServerState:
    store: Store
    settings: ServerSettings
    # Called after tasks are submitted or cancelled so streams wake at once.
    notify_tasks: Callable[[], None] = lambda: None
    # The dispatcher's `submit` once streams are served: a task that finds a free slot
    # is leased in its own insert's transaction and pushed at once.
    handoff: Callable[[Sequence[NewTask], float], Awaitable[list[Task]]] | None = None
    # Task types the server accepts: built-ins plus whatever registered workers declare.
    known_types: set[str] = field(default_factory=lambda: set(BUILTIN_TASK_TYPES))
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    # Filled by the gRPC side: worker_id -> capabilities of workers with an open stream.
    connected_workers: dict[str, frozenset[str]] = field(default_factory=dict)
    # Cache of the store's sessions: session token hash -> worker id. Entries of a
    # worker declared dead are dropped with `forget_workers`.
    sessions: dict[str, str] = field(default_factory=dict)
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    # API token hash -> (monotonic expiry, user): see englog.server.auth.principal_for.
    users_by_token: dict[str, tuple[float, User]] = field(default_factory=dict)
    # Long-polling GET /v1/tasks/{id}?wait_s=: woken after terminal states commit.
    watch: TaskWatch = field(default_factory=TaskWatch)

    async def submit(self, tasks: Sequence[NewTask]) -> list[Task]:
        """Store new tasks and get them moving (every submission route comes here)."""
        if self.handoff is not None:
            return await self.handoff(tasks, self.clock())
        stored = await self.store.submit_tasks(tasks, self.clock())
        self.notify_tasks()
        return stored

    def forget_workers(self, worker_ids: set[str]) -> None:
        """Drop cached sessions of workers whose sessions the store deleted."""
        self.sessions = {h: w for h, w in self.sessions.items() if w not in worker_ids}
