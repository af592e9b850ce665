"""The englog worker: dials out to the server, runs tasks, reports results."""

from englog.worker.client import Worker
from englog.worker.connection import ConnectionManager
from englog.worker.handlers import HandlerLoadError, load_handlers
from englog.worker.metrics import WorkerMetrics
from englog.worker.outbox import Outbox, OutboxError
from englog.worker.runner import CancelReason, FinishedResult, Runner
from englog.worker.settings import WorkerSettings

__all__ = [
    "CancelReason",
    "ConnectionManager",
    "FinishedResult",
    "HandlerLoadError",
    "Outbox",
    "OutboxError",
    "Runner",
    "Worker",
    "WorkerMetrics",
    "WorkerSettings",
    "load_handlers",
]
