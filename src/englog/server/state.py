"""What the HTTP API and the gRPC service share inside one server process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from englog.domain.tasks import RetryBackoff
from englog.server.metrics import ServerMetrics
from englog.store.base import Store

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


@dataclass(slots=True)
class ServerState:
    store: Store
    settings: ServerSettings
    # Called after tasks are submitted or cancelled so streams wake at once.
    notify_tasks: Callable[[], None] = lambda: None
    # Task types the server accepts: built-ins plus whatever registered workers declare.
    known_types: set[str] = field(default_factory=lambda: set(BUILTIN_TASK_TYPES))
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    # Filled by the gRPC side: worker_id -> capabilities of workers with an open stream.
    connected_workers: dict[str, frozenset[str]] = field(default_factory=dict)
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
