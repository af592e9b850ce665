"""Worker configuration (CLI flags / ENGLOG_* variables, DESIGN "External interface")."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from englog.addresses import split_hostport
from englog.ai.config import AIConfig, AITimeouts, ModelOptions
from englog.resilience.backoff import BackoffPolicy
from englog.resilience.breaker import BreakerPolicy
from englog.resilience.retry import RetryPolicy

# Past this, a SIGKILL loses the results of a noticeable stretch of work (they run again
# after their leases: nothing is lost, but the work is done twice).
MAX_OUTBOX_LINGER_S = 1.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    server: str = "127.0.0.1:50051"
    token: str = ""
    worker_id: str = field(default_factory=default_worker_id)
    name: str = ""
    concurrency: int = 4
    health_listen: str | None = None
    ai: str = "builtin"
    ollama_url: str = "http://127.0.0.1:11434"
    model: str = "llama3.2:3b"
    ai_fallback: str = "wait"  # wait: AI tasks stay queued while the LLM is down; degrade
    ai_timeouts: AITimeouts = field(default_factory=AITimeouts)
    ai_options: ModelOptions = field(default_factory=ModelOptions)
    outbox: str | None = None
    # How long a finished result may wait for its acknowledgement before the outbox
    # writes it (see Worker._outbox_loop); 0 writes at once.
    outbox_linger_s: float = 0.005
    insecure: bool = False  # plaintext only when asked
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    drain_timeout_s: float = 30.0
    # Between attempts of the session and stream loops when the server answers badly.
    reconnect: BackoffPolicy = field(default_factory=BackoffPolicy)
    # Between connection attempts while the server is unreachable: a short cap, so a
    # worker is back at work within about a second of its server returning.
    connect_backoff: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(initial_s=0.1, max_s=1.0)
    )
    health_check_interval_s: float = 30.0
    # A credential the server keeps refusing this long ends the worker (0: never).
    give_up_after_s: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    stats_interval_s: float = 60.0
    ai_watch_interval_s: float = 0.5
    ai_health_interval_s: float = 30.0
    rpc_timeout_s: float = 10.0
    progress_interval_s: float = 0.5
    max_results_per_report: int = 256

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 <= self.outbox_linger_s <= MAX_OUTBOX_LINGER_S:
            raise ValueError(f"--outbox-linger must be between 0 and {MAX_OUTBOX_LINGER_S:g}s")
        if not self.worker_id.strip():
            raise ValueError("worker id must not be empty")
        split_hostport(self.server, "--server")
        if self.health_listen:
            split_hostport(self.health_listen, "--health-listen")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together (client certificate for mTLS)")
        for flag, path in (
            ("--tls-cert", self.tls_cert),
            ("--tls-key", self.tls_key),
            ("--tls-ca", self.tls_ca),
        ):
            if path and not Path(path).is_file():
                raise ValueError(f"{flag}: no such file: {path}")
        self.ai_config()  # refuses a bad --ai, --ai-fallback, --model or URL now

    def ai_config(self) -> AIConfig:
        """What `englog.ai.backend.make_backend` needs to build this worker's backend."""
        return AIConfig(
            backend=self.ai,
            url=self.ollama_url,
            model=self.model,
            fallback=self.ai_fallback,
            timeouts=self.ai_timeouts,
            options=self.ai_options,
        )
