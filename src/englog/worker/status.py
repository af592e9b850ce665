"""A snapshot of the worker's state, taken on the event loop and read by the health
port: `/health` and `/readiness` need no access to the worker's parts (and the health
module imports nothing of the worker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Readiness:
    """`ready` only when every task type this worker registered can run now; a worker
    that can run some of them says which (`types`), and why not the others."""

    ready: bool
    reason: str
    # task type -> "" (ready for it) or why not
    types: dict[str, str] = field(default_factory=dict)

    @property
    def ready_for(self) -> list[str]:
        return sorted(t for t, why in self.types.items() if not why)

    @property
    def not_ready_for(self) -> dict[str, str]:
        return {t: why for t, why in sorted(self.types.items()) if why}


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    worker_id: str
    server: str
    connection: str
    connection_error: str | None
    connection_hint: str | None
    reconnects: int
    registered: bool
    stream_up: bool
    breaker: str
    breaker_failures: int
    seconds_until_half_open: float
    ai: dict[str, Any]
    outbox_durable: bool
    unacknowledged: int
    stats: dict[str, Any]
    readiness: Readiness
