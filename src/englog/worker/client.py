"""The worker's life cycle in one place: connect, register, heartbeat, stream, run,
save, report, drain.

Loops (all owned by one TaskGroup, cancelled together at the end of shutdown):
- connection: `ConnectionManager` keeps a usable channel, forever;
- session: waits for the connection, registers (behind the control-plane breaker),
  then runs heartbeat + stream until the session or the connection is lost, and
  starts over; it keeps going while draining, so finishing tasks keep their leases;
- reporter: sends finished results in batches with retry, at once: it never waits for
  the disk; a result leaves memory only when the server acknowledged it (accepted,
  duplicate, stale or unknown);
- outbox: writes the same results behind the reporter, in group commits, and deletes
  acknowledged ones; a result acknowledged before its write began is never written;
- progress: the latest progress of each task, coalesced, best effort;
- stats: a periodic statistics log line; health: the optional HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import grpc
import psutil
import structlog

from englog import __version__
from englog.ai.backend import AIBackend, get_backend, set_backend
from englog.domain.tasks import ResultOutcome
from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.resilience.backoff import Backoff
from englog.resilience.breaker import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    grpc_breaker_failure,
)
from englog.resilience.retry import FastPathRetrier, grpc_code
from englog.tasks.base import HandlerRegistry
from englog.worker.connection import ConnectionManager, cancelled_by_grpc
from englog.worker.metrics import WorkerMetrics
from englog.worker.outbox import Key, Outbox
from englog.worker.report_stream import ReportStream
from englog.worker.runner import CancelReason, FinishedResult, Runner
from englog.worker.settings import WorkerSettings

log = structlog.get_logger("englog.worker")

T = TypeVar("T")

_PB_STATUS = {
    ResultOutcome.COMPLETED: pb.RESULT_STATUS_COMPLETED,
    ResultOutcome.FAILED: pb.RESULT_STATUS_FAILED,
    ResultOutcome.CANCELLED: pb.RESULT_STATUS_CANCELLED,
}
_DISPOSITIONS = {
    pb.RESULT_DISPOSITION_ACCEPTED: "accepted",
    pb.RESULT_DISPOSITION_DUPLICATE: "duplicate",
    pb.RESULT_DISPOSITION_STALE: "stale",
    pb.RESULT_DISPOSITION_UNKNOWN_TASK: "unknown_task",
}


def _content_refused(exc: grpc.aio.AioRpcError) -> bool:
    """The server refuses a report for what it carries (not because it is busy):
    INVALID_ARGUMENT, or RESOURCE_EXHAUSTED about the message size. An overloaded
    server's RESOURCE_EXHAUSTED is retried like any other outage."""
    code = exc.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return True
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than" in (exc.details() or "")


MAX_REPORT_BYTES = 8 * 1024 * 1024
# How long shutdown waits for the server to acknowledge the last results; what is
# still unacknowledged then stays in the outbox for the next start.
RESULT_FLUSH_TIMEOUT_S = 10.0


class SessionLost(Exception):
    """The server no longer knows our session: register again."""


class ChannelClosed(ConnectionError):
    """A call ended because its channel was closed or replaced under it (grpc.aio
    raises CancelledError then): retriable, and the session starts over."""


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        registry: HandlerRegistry,
        *,
        metrics: WorkerMetrics | None = None,
        backend: AIBackend | None = None,
    ) -> None:
        """`backend`: the AI backend this worker installs for its tasks while it runs and
        closes at the end; None leaves the process-wide one (`set_backend`) alone."""
        if not registry.names():
            raise ValueError("the worker has no task handlers")
        self._backend = backend
        self.outbox = Outbox(settings.outbox)
        leftovers = self.outbox.open()  # OutboxError: the caller says why and exits
        self.outbox.remember_worker_id(settings.worker_id)
        self.settings = settings
        self.registry = registry
        self.metrics = metrics or WorkerMetrics()
        self.runner = Runner(
            registry, settings.concurrency, settings.worker_id, self._result_ready, self._progress
        )
        self.conn = ConnectionManager(settings)
        self.conn.add_listener(self._on_connection_state)
        self.retrier = FastPathRetrier(settings.retry, on_retry=self._on_retry)
        self.breaker = CircuitBreaker(
            "control_plane", settings.breaker, is_failure=grpc_breaker_failure
        )
        self.breaker.add_listener(self._on_breaker_change)
        self.metrics.set_breaker_state("control_plane", "closed")
        self.metrics.set_connection_state("idle")
        # A finished result is in `_pending` (reportable, held, counted) until it is
        # acknowledged; alongside, the outbox loop writes it: `_unsaved` (write not begun)
        # -> `_in_outbox` (handed to a commit: maybe in the file) -> `_acked` (to delete).
        self._pending: dict[Key, FinishedResult] = {r.key: r for r in leftovers}
        # key -> (result, monotonic time it was handed over: its linger starts there)
        self._unsaved: dict[Key, tuple[FinishedResult, float]] = {}
        self._in_outbox: set[Key] = set(self._pending)
        self._acked: list[Key] = []
        self._outbox_wakeup = asyncio.Event()
        self._outbox_idle = asyncio.Event()
        self._outbox_idle.set()
        self._results_waiting = asyncio.Event()
        self._all_reported = asyncio.Event()
        self._update_reported()
        self._progress_latest: dict[Key, tuple[float, str]] = {}
        self._session: str | None = None
        self._session_ready = asyncio.Event()
        self._heartbeat_s = 5.0
        self._heartbeat_now = asyncio.Event()
        self._beat_done = asyncio.Event()
        self._draining = False
        self._stream_call: grpc.aio.UnaryStreamCall | None = None
        # Reports go over this stream while it works (a third of a unary call's cost).
        self._reports = ReportStream(
            lambda: self._stub.ReportTaskResults(metadata=self._metadata()),
            settings.rpc_timeout_s,
            on_fallback=lambda _: self.metrics.report_stream_fallbacks.inc(),
        )
        self._started = time.monotonic()
        self._process = psutil.Process(os.getpid())
        self._ai_usable: tuple[bool, str] = (True, "")
        self.ai_health: dict[str, Any] | None = None
        self.registered = asyncio.Event()
        self.stream_up = False
        self.registrations = 0
        self.health_port: int | None = None
        self._ever_connected = False
        self._log = log.bind(worker_id=settings.worker_id)
        if leftovers:
            self._log.info("outbox_recovered", results=len(leftovers), outbox=settings.outbox)

    # --- public ----------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then drain, flush and close."""
        self._log.info(
            "worker_starting",
            server=self.settings.server,
            concurrency=self.settings.concurrency,
            outbox=self.settings.outbox or "memory (results do not survive this process)",
            types=self.registry.names(),
        )
        self.conn.open()  # bad TLS files fail here, before anything starts
        if self._backend is not None:
            set_backend(self._backend)
        health_sock = None
        if self.settings.health_listen:
            from englog.worker.health import bind_health, serve_health

            health_sock = bind_health(self.settings.health_listen)  # OSError: caller reports
            self.health_port = health_sock.getsockname()[1]
        try:
            async with asyncio.TaskGroup() as tg:
                loops = [
                    tg.create_task(self.conn.run(), name="connection"),
                    tg.create_task(self._session_loop(), name="session"),
                    tg.create_task(self._outbox_loop(), name="outbox"),
                    tg.create_task(self._reporter_loop(), name="reporter"),
                    tg.create_task(self._progress_loop(), name="progress"),
                    tg.create_task(self._stats_loop(), name="stats"),
                    tg.create_task(self._ai_watch_loop(), name="ai-watch"),
                ]
                if health_sock is not None:
                    loops.append(tg.create_task(serve_health(self, health_sock), name="health"))
                await stop.wait()
                await self._shutdown(loops)
        finally:
            self.runner.close()
            await self.conn.close()
            await self.outbox.close()
            if self._backend is not None:  # ours: close its HTTP connections
                aclose = getattr(self._backend, "aclose", None)
                if callable(aclose):
                    with contextlib.suppress(Exception):
                        await aclose()
                set_backend(None)
            self._log.info(
                "worker_stopped",
                unacknowledged_results=self.pending_results,
                kept_in_outbox=self.outbox.durable,
            )

    @property
    def pending_results(self) -> int:
        """Finished results the server has not acknowledged yet (saved or not)."""
        return len(self._pending)

    def ai_usable(self) -> tuple[bool, str]:
        """Whether AI task types can be taken now, and if not why (readiness)."""
        return self._ai_usable

    def readiness(self) -> tuple[bool, str]:
        if self._draining:
            return False, "draining"
        if not self.conn.ready:
            return False, f"not connected to {self.settings.server} ({self.conn.state.name})"
        if self._session is None:
            return False, "not registered"
        if not self.stream_up:
            return False, "task stream not open"
        ok, why = self._ai_usable
        if not ok and any(self.registry.get(t).requires for t in self.registry.names()):
            return False, f"AI unusable: {why}"
        return True, "ready"

    # --- shutdown ----------------------------------------------------------------
    async def _shutdown(self, loops: list[asyncio.Task[None]]) -> None:
        """Stop taking tasks, let running ones finish within the drain timeout (the
        rest are cancelled and reported retriable), flush results, close."""
        self._draining = True
        self._heartbeat_now.set()  # tell the server at once: no more assignments
        self._log.info("draining", active=self.runner.active_count)
        if self._stream_call is not None:
            self._stream_call.cancel()
        await self.runner.drain(self.settings.drain_timeout_s)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RESULT_FLUSH_TIMEOUT_S):
                await self._all_reported.wait()
        # Whatever was not acknowledged must at least be on disk before we go.
        self._outbox_wakeup.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RESULT_FLUSH_TIMEOUT_S):
                await self._outbox_idle.wait()
        self._reports.close()
        for loop in loops:
            loop.cancel()

    # --- session: register, heartbeat, stream --------------------------------------
    async def _session_loop(self) -> None:
        """Runs until cancelled, draining included: heartbeats keep the leases of the
        tasks still finishing, and a lost session is re-established to report them."""
        backoff = Backoff(self.settings.reconnect)
        while True:
            await self.conn.wait_ready()
            delay: float | None = None
            try:
                await self.breaker.call(self._register)
                self._beat_done.clear()
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._heartbeat_loop(backoff))
                    tg.create_task(self._stream_loop(backoff))
            except* SessionLost:
                self._log.warning("session_lost_reregistering")
            except* CircuitOpenError as group:
                err = group.exceptions[0]
                assert isinstance(err, CircuitOpenError)
                delay = err.retry_after_s
                self._log.warning("control_plane_circuit_open", retry_after_s=round(delay, 2))
            except* grpc.aio.AioRpcError as group:
                err = group.exceptions[0]
                assert isinstance(err, grpc.aio.AioRpcError)
                if err.code() in (
                    grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.PERMISSION_DENIED,
                ):
                    # Retried (the server's tokens may be rotated back), but said loudly.
                    self._log.error(
                        "server_refused_worker",
                        code=err.code().name,
                        detail=err.details(),
                        hint="check ENGLOG_WORKER_TOKEN against the server's ENGLOG_WORKER_TOKENS",
                    )
                else:
                    self._log.warning(
                        "connection_problem", code=err.code().name, detail=err.details()
                    )
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    self.conn.report_broken(f"{err.code().name} on a session call")
            except* (TimeoutError, ConnectionError) as group:
                self._log.warning("connection_problem", error=repr(group.exceptions[0]))
            self._invalidate_session()
            # Waiting for the connection is what paces us while the server is away;
            # the backoff only spaces attempts against a server that answers badly.
            await asyncio.sleep(delay if delay is not None else backoff.next_delay())

    @property
    def _stub(self) -> pb_grpc.WorkerServiceStub:
        stub = self.conn.stub
        assert stub is not None, "the connection is opened at the start of run()"
        return stub

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.settings.token}"),)

    async def _register(self) -> None:
        s = self.settings
        reply = await self._call_once(
            self._stub.RegisterWorker,
            pb.RegisterWorkerRequest(
                worker_id=s.worker_id,
                name=s.name or s.worker_id,
                capabilities=self.registry.names(),
                version=__version__,
                metadata={"ai": s.ai, "pid": str(os.getpid())},
                max_concurrency=s.concurrency,
            ),
        )
        self._session = reply.session_token
        self._heartbeat_s = reply.heartbeat_interval_s or 5.0
        self._session_ready.set()
        self.registered.set()
        self.registrations += 1
        self.metrics.sessions.inc()
        self._results_waiting.set()  # flush whatever finished while we were away
        self._log.info(
            "registered", heartbeat_interval_s=self._heartbeat_s, generation=self.conn.generation
        )

    def _invalidate_session(self) -> None:
        self._session = None
        self._session_ready.clear()
        self._set_stream_up(False)

    async def _heartbeat_loop(self, backoff: Backoff) -> None:
        """Never starved by task work: handlers run in their own tasks and threads, and
        a failed beat is retried until the next one is due. The control-plane breaker
        observes beats without ever refusing one (leases depend on them): their
        outcomes open it, and their successes close it again after an incident."""
        while True:
            self._heartbeat_now.clear()
            deadline = time.monotonic() + self._heartbeat_s
            beat = functools.partial(
                self._call, "heartbeat", "WorkerHeartbeat", self._heartbeat_request, deadline
            )
            reply = await self.breaker.observe(beat)
            self._beat_done.set()
            for task_id in reply.cancel_task_ids:
                if self.runner.cancel(task_id, CancelReason.SERVER):
                    self._log.info("task_cancel_requested", task_id=task_id)
            backoff.mark_healthy()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self._heartbeat_now.wait()

    def _capacity(self) -> dict[str, int]:
        """The per-type ceiling (the server counts what it has in flight against it);
        zero pauses a type whose dependency is unusable, or everything while draining."""
        if self._draining:
            return {name: 0 for name in self.registry.names()}
        ai_ok = self._ai_usable[0]
        capacity = {}
        for name in self.registry.names():
            spec = self.registry.get(name)
            blocked = spec is not None and "ai" in spec.requires and not ai_ok
            capacity[name] = 0 if blocked else self.settings.concurrency
        return capacity

    def _dependencies(self) -> dict[str, str]:
        """What the server shows of this worker's dependencies (GET /v1/workers)."""
        ok, why = self._ai_usable
        deps = {
            "control_plane": str(self.breaker.state),
            "ai": "usable" if ok else f"unusable: {why}",
        }
        if self.ai_health is not None:
            deps["ai_health"] = str(self.ai_health.get("status", "unknown"))
        return deps

    def _held_ids(self) -> set[str]:
        """Tasks this worker still answers for: running, or finished but not yet
        acknowledged (their leases must hold until the server has the result)."""
        held = set(self.runner.active_ids)
        held.update(task_id for task_id, _ in self._pending)
        return held

    def _heartbeat_request(self) -> pb.WorkerHeartbeatRequest:
        return pb.WorkerHeartbeatRequest(
            session_token=self._session or "",
            status="draining" if self._draining else "ready",
            stats=pb.WorkerStats(
                active_tasks=self.runner.active_count,
                completed_tasks=self.runner.completed,
                failed_tasks=self.runner.failed,
                cpu_percent=self._process.cpu_percent(None),
                memory_bytes=self._process.memory_info().rss,
                uptime_s=time.monotonic() - self._started,
                connection_status="connected" if self.stream_up else "connecting",
                dependencies=self._dependencies(),
            ),
            capacity=self._capacity(),
            active_task_ids=sorted(self._held_ids()),
        )

    async def _stream_loop(self, backoff: Backoff) -> None:
        # The stream opens after this session's first heartbeat: the server then knows
        # our capacity (a type paused because the LLM is down stays paused).
        await self._beat_done.wait()
        while not self._draining:
            call = self._stub.StreamTasks(
                pb.StreamTasksRequest(
                    session_token=self._session or "", held_task_ids=self._held_ids()
                ),
                metadata=self._metadata(),
            )
            self._stream_call = call
            try:
                await call.initial_metadata()  # the server sends it once the stream is open
                self._set_stream_up(True)
                async for batch in call:
                    self._set_stream_up(True)
                    backoff.mark_healthy()
                    for a in batch.assignments:
                        self.runner.submit(a)
                    self.metrics.tasks_active.set(self.runner.active_count)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.CANCELLED and self._draining:
                    return
                self._raise_for(exc)
            except asyncio.CancelledError:
                if self._draining or not cancelled_by_grpc():
                    raise
                raise ChannelClosed("task stream cancelled: the channel was replaced") from None
            finally:
                self._set_stream_up(False)
                self._stream_call = None
            if not self._draining:  # the server closed the stream (e.g. shutting down)
                await asyncio.sleep(backoff.next_delay())

    def _set_stream_up(self, up: bool) -> None:
        self.stream_up = up
        self.metrics.stream_up.set(1 if up else 0)

    # --- results: reported at once, written behind ------------------------------------
    def _result_ready(self, result: FinishedResult) -> None:
        """A finished result is reported at once and written to the outbox behind it
        (write-behind): the report never waits for the disk. It leaves memory only
        when the server acknowledged it. If the server is unreachable, the result is in
        the outbox within the linger (5 ms) and one commit, so it survives an outage of
        any length and a later SIGKILL, and is delivered from there on the next start.
        A result acknowledged before its write began is never written (no put, no
        delete), which the linger makes the usual case. The window: a worker killed
        in the few milliseconds between a task finishing and its outbox commit loses
        that result, and the task runs again after its lease expires (at-least-once,
        as after a crash during the task itself): nothing is lost."""
        key = result.key
        self._pending[key] = result
        self._results_waiting.set()  # the reporter first: its call need not wait for us
        self._write_behind(result)
        self._all_reported.clear()
        self._progress_latest.pop(key, None)
        m = self.metrics
        m.outbox_depth.set(len(self._pending))
        m.tasks_active.set(self.runner.active_count)
        m.tasks_finished.labels(result.type or "unknown", str(result.outcome)).inc()
        if result.finished_at >= result.started_at > 0:
            m.task_duration.labels(result.type or "unknown").observe(
                result.finished_at - result.started_at
            )

    async def _outbox_loop(self) -> None:
        """One commit for every result still unsaved and every acknowledged key to
        delete. Keys enter `_in_outbox` before their commit starts, so an ack that
        arrives during it queues the delete for the next commit, never before the put.
        A result's own write is not retried if it fails: it is still reported from
        memory, and only a crash could lose it then.

        Each result first waits `outbox_linger_s` (5 ms) from its hand-over for its
        acknowledgement, as a Kafka producer lingers to fill a batch: a server that
        answers within it (a report takes under a millisecond) leaves nothing to write,
        so the usual result costs the worker no write, no fsync and no delete. Measured
        side by side, that took 0.13 ms off the round trip, time the writing thread used
        to take from the reporting one. A result still unacknowledged after its linger
        (the server slow or unreachable) is written as before; when draining there is no
        linger."""
        while True:
            await self._outbox_wakeup.wait()
            self._outbox_wakeup.clear()
            while self._unsaved or self._acked:
                left = self._linger_left()
                if left > 0:
                    await asyncio.sleep(left)
                    continue  # acknowledgements may have taken some meanwhile
                saving = self._due()
                # A key saved again after its ack (the same attempt finished twice) must
                # not have its new row deleted: puts and removes of one commit run in
                # that order.
                forgetting = [k for k in self._acked if k not in saving]
                self._acked = []
                self._in_outbox.update(saving)
                try:
                    await self.outbox.commit(list(saving.values()), forgetting)
                except Exception as exc:
                    # A full or broken disk must not stop reporting: the results are
                    # in memory and reported anyway; `_in_outbox` keeps their keys, as
                    # a failed commit may or may not have reached the file.
                    self._log.error("outbox_write_failed", error=str(exc), results=len(saving))
            self._outbox_idle.set()

    async def _reporter_loop(self) -> None:
        backoff = Backoff(self.settings.reconnect)
        while True:
            await self._results_waiting.wait()
            self._results_waiting.clear()
            while self._pending:
                await self._session_ready.wait()
                try:
                    await self._report_some()
                    backoff.reset()
                except SessionLost:
                    # The session loop notices too (its heartbeat) and registers again;
                    # the next attempt uses whatever session is current then.
                    await asyncio.sleep(backoff.next_delay())
                except (grpc.aio.AioRpcError, ConnectionError, TimeoutError) as exc:
                    self._log.warning(
                        "report_failed",
                        code=grpc_code(exc) or type(exc).__name__,
                        pending=len(self._pending),
                    )
                    await asyncio.sleep(backoff.next_delay())
                except Exception:
                    # A bug of ours must not take the worker (and its running tasks) down.
                    self._log.exception("report_crashed", pending=len(self._pending))
                    await asyncio.sleep(backoff.next_delay())

    def _next_batch(self) -> list[FinishedResult]:
        """Oldest results first, bounded in count and bytes (one gRPC message)."""
        batch: list[FinishedResult] = []
        size = 0
        for result in self._pending.values():
            size += len(result.result) + len(result.error) + 128
            if batch and (
                size > MAX_REPORT_BYTES or len(batch) >= self.settings.max_results_per_report
            ):
                break
            batch.append(result)
        return batch

    async def _report_some(self) -> None:
        batch = self._next_batch()
        try:
            await self._report(batch)
        except grpc.aio.AioRpcError as exc:
            if not _content_refused(exc) or len(batch) == 1:
                raise
            # One bad result must not hold back the others: report them one by one.
            for result in batch:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self._report([result])

    async def _report(self, batch: list[FinishedResult]) -> None:
        """Over the report stream when it carries the batch, else the unary RPC."""

        def request() -> pb.ReportTaskResultRequest:
            return pb.ReportTaskResultRequest(
                session_token=self._session or "", results=[_to_pb(r) for r in batch]
            )

        reply = await self._reports.report(request())
        if reply is None:
            reply = await self._report_unary(batch, request)
            if reply is None:
                return
        for ack in reply.acks:
            disposition = _DISPOSITIONS.get(ack.disposition, "unknown")
            self.metrics.results_acked.labels(disposition).inc()
            if disposition == "stale":
                # Fenced: a newer attempt owns the task now; ours must not overwrite it.
                self._log.warning(
                    "stale_result_dropped",
                    task_id=ack.task_id,
                    attempt=ack.attempt,
                    worker_id=self.settings.worker_id,
                )
        self._forget((a.task_id, a.attempt) for a in reply.acks)

    async def _report_unary(
        self, batch: list[FinishedResult], request: Callable[[], pb.ReportTaskResultRequest]
    ) -> pb.ReportTaskResultResponse | None:
        """`ReportTaskResult` with retries; None when the server refused the whole batch
        as stale or unknown (then forgotten: there is nothing left to report)."""
        try:
            reply: pb.ReportTaskResultResponse = await self._call(
                "report", "ReportTaskResult", request
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                self._log.warning("results_rejected", detail=exc.details(), count=len(batch))
                self._forget(r.key for r in batch)
                return None
            if _content_refused(exc) and len(batch) == 1:
                self._replace_rejected(batch[0], exc)
            raise
        return reply

    def _replace_rejected(self, result: FinishedResult, exc: grpc.aio.AioRpcError) -> None:
        """The server refuses this result as such: report a non-retriable failure that
        says why instead, so the task ends and the queue behind it moves."""
        self._log.error(
            "result_refused",
            task_id=result.task_id,
            attempt=result.attempt,
            code=exc.code().name,
            detail=exc.details(),
        )
        replacement = dataclasses.replace(
            result,
            outcome=ResultOutcome.FAILED,
            result=b"",
            error=f"server refused the result ({exc.code().name}): {exc.details()}",
            retriable=False,
        )
        self._pending[result.key] = replacement
        self._write_behind(replacement)  # a restart must not report the refused one again

    def _linger_left(self) -> float:
        """Seconds until the oldest unsaved result has lingered (0: write now)."""
        linger = self.settings.outbox_linger_s
        if not linger or self._draining or not self._unsaved:
            return 0.0
        oldest = min(since for _, since in self._unsaved.values())
        return max(0.0, oldest + linger - time.monotonic())

    def _due(self) -> dict[Key, FinishedResult]:
        """Take the unsaved results whose linger is over (all when draining)."""
        linger = 0.0 if self._draining else self.settings.outbox_linger_s
        cutoff = time.monotonic() - linger
        due = {k: r for k, (r, since) in self._unsaved.items() if since <= cutoff}
        for key in due:
            del self._unsaved[key]
        return due

    def _write_behind(self, result: FinishedResult) -> None:
        """Hand `result` to the outbox loop (nothing to do without a durable outbox)."""
        if self.outbox.durable:
            self._unsaved[result.key] = (result, time.monotonic())
            self._outbox_idle.clear()
            self._outbox_wakeup.set()

    def _forget(self, keys: Iterable[Key]) -> None:
        """Acknowledged results leave memory. One whose write has not begun leaves
        `_unsaved` too and is never written; one handed to the outbox is deleted by a
        later commit (the outbox loop starts it after the one that wrote it)."""
        deleting = False
        for key in keys:
            if self._pending.pop(key, None) is None:
                continue
            self._unsaved.pop(key, None)
            if key in self._in_outbox:
                self._in_outbox.discard(key)
                self._acked.append(key)
                deleting = True
        if deleting:
            self._outbox_idle.clear()
            self._outbox_wakeup.set()
        self.metrics.outbox_depth.set(len(self._pending))
        self._update_reported()

    def _update_reported(self) -> None:
        if self._pending:
            self._all_reported.clear()
        else:
            self._all_reported.set()

    # --- progress, statistics, AI ---------------------------------------------------
    def _progress(self, task_id: str, attempt: int, percent: float, message: str) -> None:
        key = (task_id, attempt)
        if key not in self._pending:
            self._progress_latest[key] = (percent, message)

    async def _progress_loop(self) -> None:
        """Best effort: the latest value per task every interval; failures are dropped
        (the next value supersedes them, and heartbeats keep the leases)."""
        while True:
            await asyncio.sleep(self.settings.progress_interval_s)
            session = self._session
            if not self._progress_latest or session is None:
                continue
            latest, self._progress_latest = self._progress_latest, {}
            for (task_id, attempt), (percent, message) in latest.items():
                with contextlib.suppress(grpc.aio.AioRpcError, SessionLost, ConnectionError):
                    await self._call_once(
                        self._stub.UpdateTaskProgress,
                        pb.UpdateTaskProgressRequest(
                            session_token=session,
                            task_id=task_id,
                            attempt=attempt,
                            percent=percent,
                            message=message,
                        ),
                    )

    def stats(self) -> dict[str, Any]:
        c = self.conn.stats()
        b = self.breaker.stats()
        return {
            "active": self.runner.active_count,
            "completed": self.runner.completed,
            "failed": self.runner.failed,
            "unacknowledged_results": self.pending_results,
            "connection": c.state,
            "reconnects": c.reconnects,
            "registrations": self.registrations,
            "stream_up": self.stream_up,
            "control_plane_breaker": str(b.state),
            "retries": {name: s.retries for name, s in self.retrier.stats().items()},
            "ai_usable": self._ai_usable[0],
        }

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval_s)
            self._log.info("worker_stats", **self.stats())

    async def _ai_watch_loop(self) -> None:
        """Follows the AI backend's usability (its breaker); a change is told to the
        server at once, so AI tasks stop (or resume) being routed here. Every
        `ai_health_interval_s` it also asks the backend's health (never a generation),
        so a missing model is said at start and shown in /health."""
        next_health = 0.0
        while True:
            backend = get_backend()
            usable = getattr(backend, "usable", None)
            state = usable() if callable(usable) else (True, "")
            if state[0] != self._ai_usable[0]:
                self._log.warning("ai_usability_changed", usable=state[0], reason=state[1])
                self._ai_usable = state
                self._heartbeat_now.set()
            else:
                self._ai_usable = state
            if time.monotonic() >= next_health:
                next_health = time.monotonic() + self.settings.ai_health_interval_s
                await self._check_ai_health(backend)
            await asyncio.sleep(self.settings.ai_watch_interval_s)

    async def _check_ai_health(self, backend: Any) -> None:
        try:
            health = await backend.health()
        except Exception as exc:  # a backend's bug must not stop the watch
            health = {"status": "unhealthy", "error": f"{type(exc).__name__}: {exc}"}
        was = (self.ai_health or {}).get("status")
        self.ai_health = health
        if health.get("status") not in (None, "healthy", "ok") and was != health.get("status"):
            self._log.warning("ai_backend_unhealthy", **{k: str(v) for k, v in health.items()})

    # --- hooks and helpers ------------------------------------------------------------
    def _on_connection_state(self, state: str) -> None:
        self.metrics.set_connection_state(state)
        if state == "ready":
            if self._ever_connected:
                self.metrics.reconnects.inc()
            self._ever_connected = True

    def _on_breaker_change(self, name: str, old: BreakerState, new: BreakerState) -> None:
        self.metrics.set_breaker_state(name, str(new))
        self.metrics.breaker_transitions.labels(name, str(old), str(new)).inc()
        self._log.warning("breaker_state_changed", breaker=name, from_state=old, to_state=new)

    def _on_retry(self, operation: str, attempt: int, delay_s: float, exc: BaseException) -> None:
        self.metrics.retries.labels(operation, grpc_code(exc) or type(exc).__name__).inc()

    async def _call(
        self,
        operation: str,
        method: str,
        request: Callable[[], object],
        deadline: float | None = None,
    ) -> Any:
        """One RPC with retries; the stub and the request are taken afresh for every
        attempt (the channel may have been replaced; the session and held ids may have
        changed). A session the server no longer knows is not retried."""

        async def attempt() -> Any:
            return await self._call_once(getattr(self._stub, method), request())

        return await self.retrier.call(operation, attempt, deadline=deadline)

    async def _call_once(self, method: Callable[..., Awaitable[T]], request: object) -> T:
        try:
            return await method(
                request, metadata=self._metadata(), timeout=self.settings.rpc_timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            self._raise_for(exc)
            raise
        except asyncio.CancelledError:
            if not cancelled_by_grpc():
                raise
            raise ChannelClosed("call cancelled: the channel was replaced or closed") from None

    def _raise_for(self, exc: grpc.aio.AioRpcError) -> None:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED and "register" in (exc.details() or ""):
            raise SessionLost(exc.details()) from exc
        raise exc


def _to_pb(r: FinishedResult) -> pb.TaskResult:
    return pb.TaskResult(
        task_id=r.task_id,
        attempt=r.attempt,
        status=_PB_STATUS[r.outcome],
        result=r.result,
        error=r.error,
        retriable=r.retriable,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )
