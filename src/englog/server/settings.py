"""Server configuration (CLI flags / ENGLOG_* variables, DESIGN "External interface")."""

from __future__ import annotations

from dataclasses import dataclass, field

from englog.domain.policy import QueuePolicy
from englog.domain.tasks import DEFAULT_MAX_REASSIGNMENTS, RetryBackoff
from englog.server.ratelimit import HttpLimits
from englog.store.base import DEFAULT_DEADLINE_GRACE_S

DAY_S = 86_400.0


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
    # Anyone may create a member account at /app/signup (off: admins and invites only).
    allow_signup: bool = False
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
    # The pending-task gauges follow this process's own changes; a count in the store
    # (one scan) corrects them for other replicas' at most this often, and never takes
    # more than 1 % of the time (see englog.server.pending).
    pending_recount_s: float = 60.0
    # Fair shares (englog.domain.fairness): RUNNING and unfinished (PENDING or RUNNING)
    # tasks one user may hold at once; 0 turns a cap off. The admin is not capped.
    max_running_per_user: int = 2
    max_queued_per_user: int = 1000
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (none by default:
    # then the client address is the socket's).
    trusted_proxies: tuple[str, ...] = ()
    # When set, GET /metrics requires `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = None
    # With mutual TLS: a worker registers only under a name its client certificate
    # carries (common name or DNS subject alternative name).
    bind_worker_certs: bool = False
    # Serve /docs and /redoc (Swagger UI and ReDoc, which load scripts from a CDN).
    api_docs: bool = False
    # REST rate limits, wait caps and connection timeouts (englog.server.ratelimit).
    http_limits: HttpLimits = field(default_factory=HttpLimits)

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s <= 0 or self.lease_ttl_s <= 0:
            raise ValueError("heartbeat interval and lease TTL must be positive")
        if self.missed_heartbeats < 1 or self.max_reassignments < 0:
            raise ValueError("missed_heartbeats must be >= 1 and max_reassignments >= 0")
        if self.retention_s <= 0:
            raise ValueError(f"retention must be positive, got {self.retention_s:g} s")
        if self.bind_worker_certs and not self.tls_ca:
            raise ValueError("--bind-worker-certs needs --tls-ca (mutual TLS)")
        if self.max_running_per_user < 0 or self.max_queued_per_user < 0:
            raise ValueError("per-user task caps must be >= 0")
        if self.pending_recount_s <= 0:
            raise ValueError(f"pending recount must be positive, got {self.pending_recount_s:g} s")

    @property
    def queue_policy(self) -> QueuePolicy:
        """The store's queue rules (leases, retries, reassignments, deadlines)."""
        return QueuePolicy(
            self.lease_ttl_s,
            self.retry_backoff,
            self.max_reassignments,
            self.deadline_grace_s,
            self.max_running_per_user,
        )

    @property
    def worker_dead_after_s(self) -> float:
        return self.missed_heartbeats * self.heartbeat_interval_s
