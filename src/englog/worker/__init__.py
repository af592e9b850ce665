"""The englog worker: dials out to the server, runs tasks, reports results."""

from englog.worker.client import Worker
from englog.worker.handlers import HandlerLoadError, load_handlers
from englog.worker.runner import CancelReason, FinishedResult, Runner
from englog.worker.settings import WorkerSettings

__all__ = [
    "CancelReason",
    "FinishedResult",
    "HandlerLoadError",
    "Runner",
    "Worker",
    "WorkerSettings",
    "load_handlers",
]
