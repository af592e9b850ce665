"""The englog worker: dials out to the server, runs tasks, reports results."""

from englog.worker.ai_watch import AIWatch
from englog.worker.assignment import Assignment
from englog.worker.connection import ConnectionManager
from englog.worker.delivery import ResultDelivery
from englog.worker.handlers import HandlerLoadError, load_handlers
from englog.worker.metrics import WorkerMetrics
from englog.worker.outbox import Outbox, OutboxError
from englog.worker.runner import CancelReason, FinishedResult, ProgressEvent, Runner
from englog.worker.session import ChannelClosed, Session, SessionLost
from englog.worker.settings import WorkerSettings, default_worker_id
from englog.worker.status import Readiness, WorkerStatus
from englog.worker.worker import Worker

__all__ = [
    "AIWatch",
    "Assignment",
    "CancelReason",
    "ChannelClosed",
    "ConnectionManager",
    "FinishedResult",
    "HandlerLoadError",
    "Outbox",
    "OutboxError",
    "ProgressEvent",
    "Readiness",
    "ResultDelivery",
    "Runner",
    "Session",
    "SessionLost",
    "Worker",
    "WorkerMetrics",
    "WorkerSettings",
    "WorkerStatus",
    "default_worker_id",
    "load_handlers",
]
