"""Worker configuration (CLI flags / ENGLOG_* variables, DESIGN "External interface")."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from englog.resilience.backoff import BackoffPolicy


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
    outbox: str | None = None
    insecure: bool = True
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    drain_timeout_s: float = 30.0
    reconnect: BackoffPolicy = field(default_factory=BackoffPolicy)
    rpc_timeout_s: float = 10.0
    progress_interval_s: float = 0.5
    max_results_per_report: int = 256

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not self.worker_id.strip():
            raise ValueError("worker id must not be empty")
