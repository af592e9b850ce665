"""Runs assignments with bounded concurrency, each within its deadline, and turns every
way a handler can end into exactly one `FinishedResult`.

Synchronous handlers run in a thread (asyncio.to_thread), so a handler that blocks
never starves the heartbeat or the stream. A thread cannot be killed: at the deadline
the runner reports the timeout at once and sets the context's cancel event, which a
well-behaved sync handler polls."""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from englog.domain.tasks import ResultOutcome
from englog.protocol import worker_pb2 as pb
from englog.tasks.base import HandlerRegistry, TaskContext, TaskError

log = structlog.get_logger("englog.worker.runner")


class CancelReason(enum.StrEnum):
    """Why a running task was cancelled; the report says which."""

    SERVER = "cancelled by request"
    SHUTDOWN = "worker shutting down"


@dataclass(frozen=True, slots=True)
class FinishedResult:
    task_id: str
    attempt: int
    outcome: ResultOutcome
    result: bytes = b""
    error: str = ""
    retriable: bool = True
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_id, self.attempt)


@dataclass(slots=True)
class _Running:
    assignment: pb.TaskAssignment
    ctx: TaskContext
    task: asyncio.Task[None]
    cancel_reason: CancelReason | None = None


ResultSink = Callable[[FinishedResult], None]
ProgressReporter = Callable[[str, int, float, str], None]


class Runner:
    """Owns every task it starts (`self._running`) and cancels leftovers in `drain`."""

    def __init__(
        self,
        registry: HandlerRegistry,
        concurrency: int,
        worker_id: str,
        on_result: ResultSink,
        on_progress: ProgressReporter,
    ) -> None:
        self._registry = registry
        self._slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self._worker_id = worker_id
        self._on_result = on_result
        self._on_progress = on_progress
        self._running: dict[str, _Running] = {}
        self.completed = 0
        self.failed = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active_ids(self) -> list[str]:
        return list(self._running)

    @property
    def active_count(self) -> int:
        return len(self._running)

    def submit(self, a: pb.TaskAssignment) -> None:
        if a.task_id in self._running:
            log.warning("duplicate_assignment_ignored", task_id=a.task_id, attempt=a.attempt)
            return
        loop = asyncio.get_running_loop()
        ctx = TaskContext(
            task_id=a.task_id,
            type=a.type,
            attempt=a.attempt,
            deadline=time.time() + (a.timeout_s or 60.0),
            worker_id=self._worker_id,
            metadata=dict(a.metadata),
            _progress=lambda pct, msg: loop.call_soon_threadsafe(
                self._on_progress, a.task_id, a.attempt, pct, msg
            ),
        )
        task = asyncio.create_task(self._run(a, ctx), name=f"task-{a.task_id}")
        self._running[a.task_id] = _Running(a, ctx, task)
        self._idle.clear()

    def cancel(self, task_id: str, reason: CancelReason) -> bool:
        running = self._running.get(task_id)
        if running is None:
            return False
        running.cancel_reason = reason
        running.ctx.cancel_event.set()
        running.task.cancel(reason.value)
        return True

    async def drain(self, timeout_s: float) -> None:
        """Let running tasks finish within `timeout_s`, then cancel the rest; their
        results (retriable) are still produced before this returns."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            for task_id in list(self._running):
                self.cancel(task_id, CancelReason.SHUTDOWN)
            await self._idle.wait()

    async def _run(self, a: pb.TaskAssignment, ctx: TaskContext) -> None:
        started = time.time()
        bound = log.bind(task_id=a.task_id, attempt=a.attempt, worker_id=self._worker_id)
        try:
            async with self._slots:
                outcome = await self._execute(a, ctx)
        except asyncio.CancelledError:
            outcome = self._cancelled_outcome(a.task_id)
        finished = FinishedResult(
            task_id=a.task_id,
            attempt=a.attempt,
            started_at=started,
            finished_at=time.time(),
            **outcome,
        )
        if finished.outcome is ResultOutcome.COMPLETED:
            self.completed += 1
        else:
            self.failed += 1
            bound.warning("task_failed", outcome=str(finished.outcome), error=finished.error)
        self._running.pop(a.task_id, None)
        if not self._running:
            self._idle.set()
        self._on_result(finished)

    async def _execute(self, a: pb.TaskAssignment, ctx: TaskContext) -> dict[str, Any]:
        spec = self._registry.get(a.type)
        if spec is None:
            return _failure(f"no handler for task type {a.type!r} on this worker", False)
        try:
            payload = json.loads(a.payload) if a.payload else {}
        except ValueError as exc:
            return _failure(f"payload is not valid JSON: {exc}", False)
        if not isinstance(payload, dict):
            return _failure("payload must be a JSON object", False)
        timeout_s = a.timeout_s or 60.0
        try:
            async with asyncio.timeout(timeout_s):
                if spec.is_async:
                    value = await spec.func(ctx, payload)
                else:
                    value = await asyncio.to_thread(spec.func, ctx, payload)
        except TimeoutError:
            ctx.cancel_event.set()
            return _failure(f"deadline exceeded after {timeout_s:g}s", True)
        except TaskError as exc:
            return _failure(str(exc), exc.retriable)
        except Exception as exc:
            log.exception("handler_crashed", task_id=a.task_id, attempt=a.attempt)
            return _failure(f"{type(exc).__name__}: {exc}", True)
        try:
            encoded = json.dumps(value, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            return _failure(f"result is not JSON-serialisable: {exc}", False)
        return {"outcome": ResultOutcome.COMPLETED, "result": encoded}

    def _cancelled_outcome(self, task_id: str) -> dict[str, Any]:
        running = self._running.get(task_id)
        reason = running.cancel_reason if running else CancelReason.SHUTDOWN
        if reason is CancelReason.SERVER:
            return {"outcome": ResultOutcome.CANCELLED, "error": reason.value, "retriable": False}
        return _failure(str(reason or CancelReason.SHUTDOWN), True)


def _failure(error: str, retriable: bool) -> dict[str, Any]:
    return {"outcome": ResultOutcome.FAILED, "error": error, "retriable": retriable}
