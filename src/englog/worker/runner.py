"""Runs assignments with bounded concurrency, each within its deadline, and turns every
way a handler can end into exactly one `FinishedResult`.

Synchronous handlers run in a thread (asyncio.to_thread), so a handler that blocks
never starves the heartbeat or the stream. A thread cannot be killed: at the deadline
the runner reports the timeout at once and sets the context's cancel event, which a
well-behaved sync handler polls."""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

from englog.ai.backend import AIBackend
from englog.domain.tasks import ResultOutcome
from englog.tasks.base import HandlerRegistry, TaskContext, TaskError
from englog.worker.assignment import Assignment

log = structlog.get_logger("englog.worker.runner")


class CancelReason(enum.StrEnum):
    """Why a running task was cancelled; the report says which."""

    SERVER = "cancelled by request"
    SHUTDOWN = "worker shutting down"
    SUPERSEDED = "superseded by a newer attempt"


# Deadline for an assignment that names none and whose handler declares none.
DEFAULT_TIMEOUT_S = 60.0
# Results travel in one gRPC message; past this size a result fails (non-retriable)
# instead of blocking the worker's report queue.
MAX_RESULT_BYTES = 4 * 1024 * 1024
# Threads for sync handlers beyond `concurrency`: a thread that outlives its deadline
# cannot be killed and keeps its thread until it returns.
SPARE_THREADS = 4


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
    type: str = ""  # for metrics; not part of the report
    # The handler's `TaskError.retry_after` (an open AI circuit says when to probe);
    # reported as TaskResult.retry_after_s, the server waits at least that long.
    retry_after_s: float | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_id, self.attempt)


@dataclass(slots=True)
class _Running:
    assignment: Assignment
    ctx: TaskContext
    task: asyncio.Task[FinishedResult]
    cancel_reason: CancelReason | None = None


ResultSink = Callable[[FinishedResult], None]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """A handler's progress report, handed to the worker on the event loop."""

    task_id: str
    attempt: int
    percent: float
    message: str


ProgressReporter = Callable[[ProgressEvent], None]


class Runner:
    """Owns every task it starts (`self._running`) and cancels leftovers in `drain`."""

    def __init__(
        self,
        registry: HandlerRegistry,
        concurrency: int,
        worker_id: str,
        on_result: ResultSink,
        on_progress: ProgressReporter,
        *,
        ai: AIBackend | None = None,
    ) -> None:
        """`ai`: the backend handlers get as `ctx.ai` (None: the builtin one)."""
        self._registry = registry
        self._ai = ai
        self._slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self._worker_id = worker_id
        self._on_result = on_result
        self._on_progress = on_progress
        self._running: dict[tuple[str, int], _Running] = {}
        # Own pool, sized to the slots, so sync handlers never queue behind other
        # users of the default executor while their deadline runs.
        self._threads = ThreadPoolExecutor(
            max_workers=concurrency + SPARE_THREADS, thread_name_prefix="englog-handler"
        )
        self._busy = 0
        self._busy_lock = threading.Lock()
        self.completed = 0
        self.failed = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active_ids(self) -> list[str]:
        return sorted({task_id for task_id, _ in self._running})

    @property
    def active_count(self) -> int:
        return len(self._running)

    def submit(self, a: Assignment) -> None:
        if (a.task_id, a.attempt) in self._running:
            log.warning("duplicate_assignment_ignored", task_id=a.task_id, attempt=a.attempt)
            return
        for task_id, attempt in list(self._running):
            if task_id == a.task_id and attempt < a.attempt:  # our old attempt was fenced off
                self._cancel_one((task_id, attempt), CancelReason.SUPERSEDED)
        loop = asyncio.get_running_loop()
        ctx = TaskContext(
            task_id=a.task_id,
            type=a.type,
            attempt=a.attempt,
            deadline=time.time() + self._timeout_of(a),  # reset when it gets a slot
            worker_id=self._worker_id,
            metadata=dict(a.metadata),
            ai=self._ai,
            _progress=lambda pct, msg: loop.call_soon_threadsafe(
                self._on_progress, ProgressEvent(a.task_id, a.attempt, pct, msg)
            ),
        )
        task = asyncio.create_task(self._run(a, ctx), name=f"task-{a.task_id}")
        task.add_done_callback(functools.partial(self._finish, a))
        self._running[(a.task_id, a.attempt)] = _Running(a, ctx, task)
        self._idle.clear()

    def cancel(self, task_id: str, reason: CancelReason) -> bool:
        """Cancel every attempt of `task_id` this worker runs."""
        keys = [key for key in self._running if key[0] == task_id]
        for key in keys:
            self._cancel_one(key, reason)
        return bool(keys)

    def _cancel_one(self, key: tuple[str, int], reason: CancelReason) -> None:
        running = self._running[key]
        running.cancel_reason = reason
        running.ctx.cancel_event.set()
        running.task.cancel(reason.value)

    async def drain(self, timeout_s: float) -> None:
        """Let running tasks finish within `timeout_s`, then cancel the rest; their
        results (retriable) are still produced before this returns."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            for key in list(self._running):
                self._cancel_one(key, CancelReason.SHUTDOWN)
            await self._idle.wait()

    def close(self) -> None:
        """Release the handler threads (without waiting for ones past their deadline)."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    @property
    def busy_threads(self) -> int:
        """Sync handlers still running in their threads (past their deadline or the
        drain, since a thread cannot be killed): the process exits without them."""
        with self._busy_lock:
            return self._busy

    def _in_thread(self, func: Callable[..., Any], ctx: TaskContext, payload: Any) -> Any:
        with self._busy_lock:
            self._busy += 1
        try:
            return func(ctx, payload)
        finally:
            with self._busy_lock:
                self._busy -= 1

    async def _run(self, a: Assignment, ctx: TaskContext) -> FinishedResult:
        # Every log line about this task (handler's included) carries who and which attempt.
        structlog.contextvars.bind_contextvars(
            task_id=a.task_id, attempt=a.attempt, worker_id=self._worker_id, task_type=a.type
        )
        started = time.time()
        try:
            async with self._slots:
                outcome = await self._execute(a, ctx)
        except asyncio.CancelledError:
            outcome = self._cancelled_outcome((a.task_id, a.attempt))
        finished = FinishedResult(
            a.task_id,
            a.attempt,
            started_at=started,
            finished_at=time.time(),
            type=a.type,
            **outcome,
        )
        # Handed over here, not in the done callback: one loop turn less on the way to
        # the report (the callback then finds nothing left to do).
        current = asyncio.current_task()
        if current is not None:
            self._complete((a.task_id, a.attempt), current, finished)
        return finished

    def _finish(self, a: Assignment, task: asyncio.Task[FinishedResult]) -> None:
        """Done callback, so bookkeeping happens even for a task cancelled before it
        started (its coroutine then never runs at all) or crashed by a bug of ours."""
        key = (a.task_id, a.attempt)
        running = self._running.get(key)
        if running is None or running.task is not task:
            return  # `_run` handed its result over itself
        if task.cancelled():
            now = time.time()
            finished = FinishedResult(
                a.task_id,
                a.attempt,
                started_at=now,
                finished_at=now,
                type=a.type,
                **self._cancelled_outcome(key),
            )
        elif (exc := task.exception()) is not None:  # a bug of ours; still report it
            finished = FinishedResult(
                a.task_id, a.attempt, type=a.type, **_failure(repr(exc), True)
            )
        else:
            finished = task.result()
        self._complete(key, task, finished)

    def _complete(
        self, key: tuple[str, int], task: asyncio.Task[FinishedResult], finished: FinishedResult
    ) -> None:
        """Once per task: forget it, count it, hand its result over."""
        running = self._running.get(key)
        if running is None or running.task is not task:
            return
        del self._running[key]
        if not self._running:
            self._idle.set()
        self._count(finished)
        self._on_result(finished)

    def _count(self, finished: FinishedResult) -> None:
        if finished.outcome is ResultOutcome.COMPLETED:
            self.completed += 1
            return
        self.failed += 1
        log.warning(
            "task_failed",
            task_id=finished.task_id,
            attempt=finished.attempt,
            worker_id=self._worker_id,
            outcome=str(finished.outcome),
            error=finished.error,
        )

    async def _execute(self, a: Assignment, ctx: TaskContext) -> dict[str, Any]:
        spec = self._registry.get(a.type)
        if spec is None:
            return _failure(f"no handler for task type {a.type!r} on this worker", False)
        try:
            payload = json.loads(a.payload) if a.payload else {}
        except ValueError as exc:
            return _failure(f"payload is not valid JSON: {exc}", False)
        if not isinstance(payload, dict):
            return _failure("payload must be a JSON object", False)
        timeout_s = self._timeout_of(a)
        ctx.deadline = time.time() + timeout_s  # the clock starts once a slot is held
        try:
            async with asyncio.timeout(timeout_s):
                if spec.is_async:
                    value = await spec.func(ctx, payload)
                else:
                    loop = asyncio.get_running_loop()
                    # The thread runs in a copy of this context: its logs keep the task ids.
                    call = functools.partial(
                        contextvars.copy_context().run, self._in_thread, spec.func, ctx, payload
                    )
                    value = await loop.run_in_executor(self._threads, call)
        except TimeoutError:
            ctx.cancel_event.set()
            return _failure(f"deadline exceeded after {timeout_s:g}s", True)
        except TaskError as exc:
            return _failure(str(exc), exc.retriable) | {"retry_after_s": exc.retry_after}
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a handler's SystemExit must not kill the worker
            log.exception("handler_crashed", task_id=a.task_id, attempt=a.attempt)
            return _failure(f"{type(exc).__name__}: {exc}", True)
        return _encode(value)

    def _timeout_of(self, a: Assignment) -> float:
        """The server's timeout; else the handler's declared one; else the default."""
        spec = self._registry.get(a.type)
        return a.timeout_s or (spec.timeout_s if spec else None) or DEFAULT_TIMEOUT_S

    def _cancelled_outcome(self, key: tuple[str, int]) -> dict[str, Any]:
        running = self._running.get(key)
        reason = running.cancel_reason if running else CancelReason.SHUTDOWN
        if reason is CancelReason.SERVER:
            return {"outcome": ResultOutcome.CANCELLED, "error": reason.value, "retriable": False}
        return _failure(str(reason or CancelReason.SHUTDOWN), True)


def _encode(value: Any) -> dict[str, Any]:
    try:
        encoded = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        return _failure(f"result is not JSON-serialisable: {exc}", False)
    if len(encoded) > MAX_RESULT_BYTES:
        return _failure(f"result too large: {len(encoded)} bytes (limit {MAX_RESULT_BYTES})", False)
    return {"outcome": ResultOutcome.COMPLETED, "result": encoded}


def _failure(error: str, retriable: bool) -> dict[str, Any]:
    # Errors travel as protobuf strings and SQLite text: a lone surrogate (from
    # os.fsdecode, say) would make both refuse the whole batch.
    clean = error.encode("utf-8", "replace").decode("utf-8")
    return {"outcome": ResultOutcome.FAILED, "error": clean, "retriable": retriable}
