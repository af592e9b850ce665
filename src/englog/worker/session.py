"""The worker's conversation with the server: register, heartbeat, the task stream and
the result and progress calls. Protobuf is converted here and nowhere else: the rest
of the worker speaks `Assignment`, `FinishedResult`, `Beat` and `Ack`.

The session loop runs until cancelled, draining included: heartbeats keep the leases
of the tasks still finishing, and a lost session is re-established to report them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from englog import __version__
from englog.domain.tasks import ResultOutcome
from englog.errors import EnglogError
from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.resilience.backoff import Backoff
from englog.resilience.breaker import CircuitBreaker, CircuitOpenError
from englog.resilience.retry import FastPathRetrier
from englog.worker.assignment import Assignment
from englog.worker.connection import ConnectionManager, cancelled_by_grpc
from englog.worker.metrics import WorkerMetrics
from englog.worker.report_stream import ReportStream
from englog.worker.runner import FinishedResult
from englog.worker.settings import WorkerSettings

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
_REFUSALS = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
_TOKEN_HINT = "check ENGLOG_WORKER_TOKEN against the server's ENGLOG_WORKER_TOKENS"


class CredentialRefused(EnglogError):
    """The server kept refusing this worker's credential for `--give-up-after` seconds:
    the worker stops (non-zero exit) rather than retry silently forever."""


class SessionLost(EnglogError):
    """The server no longer knows our session: register again."""


class ChannelClosed(EnglogError, ConnectionError):
    """A call ended because its channel was closed or replaced under it (grpc.aio
    raises CancelledError then): retriable, and the session starts over."""


class ResultsRejected(EnglogError):
    """The server refused a whole report as stale or unknown: nothing left to report."""


class ReportRefused(EnglogError):
    """The server refuses a report for what it carries (not because it is busy)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"server refused the result ({code}): {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Ack:
    task_id: str
    attempt: int
    disposition: str  # accepted, duplicate, stale, unknown_task (or unknown)


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat tells the server about this worker."""

    draining: bool
    active: int
    completed: int
    failed: int
    cpu_percent: float
    memory_bytes: int
    uptime_s: float
    capacity: dict[str, int]
    held_ids: list[str]
    dependencies: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionHooks:
    """What the session asks of the rest of the worker."""

    beat: Callable[[], Beat]
    held_ids: Callable[[], set[str]]
    assign: Callable[[Assignment], None]
    cancel: Callable[[str], None]
    draining: Callable[[], bool]
    on_assigned: Callable[[], None]
    on_registered: Callable[[], None]


def content_refused(exc: grpc.aio.AioRpcError) -> bool:
    """INVALID_ARGUMENT, or RESOURCE_EXHAUSTED about the message size. An overloaded
    server's RESOURCE_EXHAUSTED is retried like any other outage."""
    code = exc.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return True
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than" in (exc.details() or "")


def refusal_reason(exc: grpc.aio.AioRpcError) -> str:
    """Why the server refused to register us, said as readiness shows it."""
    code = exc.code().name
    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
        return f"server refused the worker token ({code}): check ENGLOG_WORKER_TOKEN"
    if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
        return f"server refused this worker ({code}): {exc.details() or _TOKEN_HINT}"
    return f"server refused to register this worker ({code}): {exc.details()}"


class Session:
    def __init__(
        self,
        settings: WorkerSettings,
        conn: ConnectionManager,
        capabilities: list[str],
        metrics: WorkerMetrics,
        retrier: FastPathRetrier,
        breaker: CircuitBreaker,
        hooks: SessionHooks,
        log: Any,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.capabilities = capabilities
        self.metrics = metrics
        self.retrier = retrier
        self.breaker = breaker
        self.hooks = hooks
        self._log = log
        self.token: str | None = None
        self.ready = asyncio.Event()
        self.registered = asyncio.Event()
        self.registrations = 0
        self.stream_up = False
        # Why the server refused to register us, until it accepts (readiness says it).
        self.refusal: str | None = None
        self._refused_since: float | None = None  # monotonic, first refusal in a row
        self._heartbeat_s = 5.0
        self.heartbeat_now = asyncio.Event()
        self._beat_done = asyncio.Event()
        self._stream_call: grpc.aio.UnaryStreamCall | None = None
        # Reports go over this stream while it works (a third of a unary call's cost).
        self.reports = ReportStream(
            lambda: self._stub.ReportTaskResults(metadata=self._metadata()),
            settings.rpc_timeout_s,
            on_fallback=lambda _: self.metrics.report_stream_fallbacks.inc(),
        )

    # --- the session loop -----------------------------------------------------------
    async def run(self) -> None:
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
                self._said_problem(err)
            except* (TimeoutError, ConnectionError) as group:
                self._log.warning("connection_problem", error=repr(group.exceptions[0]))
            self.invalidate()
            # Waiting for the connection is what paces us while the server is away;
            # the backoff only spaces attempts against a server that answers badly.
            delay = delay if delay is not None else backoff.next_delay()
            await asyncio.sleep(min(delay, self._give_up_in()))
            self._give_up_in()

    def _give_up_in(self) -> float:
        """Seconds left before a refused credential ends the worker (inf when the
        server is not refusing us); CredentialRefused once they have run out."""
        limit = self.settings.give_up_after_s
        if self._refused_since is None or limit <= 0:
            return float("inf")
        left = self._refused_since + limit - time.monotonic()
        if left <= 0:
            raise CredentialRefused(f"{self.refusal}; gave up after {limit:g} s of refusals")
        return left

    def _said_problem(self, err: grpc.aio.AioRpcError) -> None:
        if err.code() in _REFUSALS:
            # Retried (the server's tokens may be rotated back), but said loudly.
            self._log.error(
                "server_refused_worker",
                code=err.code().name,
                detail=err.details(),
                hint=_TOKEN_HINT,
            )
        else:
            self._log.warning("connection_problem", code=err.code().name, detail=err.details())
        if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            self.conn.report_broken(f"{err.code().name} on a session call")

    async def _register(self) -> None:
        s = self.settings
        try:
            reply = await self.call_once(
                self._stub.RegisterWorker,
                pb.RegisterWorkerRequest(
                    worker_id=s.worker_id,
                    name=s.name or s.worker_id,
                    capabilities=self.capabilities,
                    version=__version__,
                    metadata={"ai": s.ai, "pid": str(os.getpid())},
                    max_concurrency=s.concurrency,
                ),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _REFUSALS or exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                self.refusal = refusal_reason(exc)
            if exc.code() in _REFUSALS and self._refused_since is None:
                self._refused_since = time.monotonic()
            raise
        self.refusal = None
        self._refused_since = None
        self.token = reply.session_token
        self._heartbeat_s = reply.heartbeat_interval_s or 5.0
        self.ready.set()
        self.registered.set()
        self.registrations += 1
        self.metrics.sessions.inc()
        self.hooks.on_registered()  # flush whatever finished while we were away
        self._log.info(
            "registered", heartbeat_interval_s=self._heartbeat_s, generation=self.conn.generation
        )

    def invalidate(self) -> None:
        self.token = None
        self.ready.clear()
        self._set_stream_up(False)

    def stop_stream(self) -> None:
        """Draining: take no more assignments (the heartbeat goes on)."""
        self.heartbeat_now.set()  # tell the server at once: no more assignments
        if self._stream_call is not None:
            self._stream_call.cancel()

    # --- heartbeat and stream ---------------------------------------------------------
    async def _heartbeat_loop(self, backoff: Backoff) -> None:
        """Never starved by task work: handlers run in their own tasks and threads, and
        a failed beat is retried until the next one is due. The control-plane breaker
        observes beats without ever refusing one (leases depend on them): their
        outcomes open it, and their successes close it again after an incident."""
        while True:
            self.heartbeat_now.clear()
            deadline = time.monotonic() + self._heartbeat_s
            beat = functools.partial(
                self.call, "heartbeat", "WorkerHeartbeat", self._heartbeat_request, deadline
            )
            reply = await self.breaker.observe(beat)
            self._beat_done.set()
            for task_id in reply.cancel_task_ids:
                self.hooks.cancel(task_id)
            backoff.mark_healthy()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self.heartbeat_now.wait()

    def _heartbeat_request(self) -> pb.WorkerHeartbeatRequest:
        b = self.hooks.beat()
        return pb.WorkerHeartbeatRequest(
            session_token=self.token or "",
            status="draining" if b.draining else "ready",
            stats=pb.WorkerStats(
                active_tasks=b.active,
                completed_tasks=b.completed,
                failed_tasks=b.failed,
                cpu_percent=b.cpu_percent,
                memory_bytes=b.memory_bytes,
                uptime_s=b.uptime_s,
                connection_status="connected" if self.stream_up else "connecting",
                dependencies=b.dependencies,
            ),
            capacity=b.capacity,
            active_task_ids=b.held_ids,
        )

    async def _stream_loop(self, backoff: Backoff) -> None:
        # The stream opens after this session's first heartbeat: the server then knows
        # our capacity (a type paused because the LLM is down stays paused).
        await self._beat_done.wait()
        draining = self.hooks.draining
        while not draining():
            call = self._stub.StreamTasks(
                pb.StreamTasksRequest(
                    session_token=self.token or "", held_task_ids=self.hooks.held_ids()
                ),
                metadata=self._metadata(),
            )
            self._stream_call = call
            try:
                await call.initial_metadata()  # the server sends it once the stream is open
                self._set_stream_up(True)
                await self._take(call, backoff)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.CANCELLED and draining():
                    return
                self._raise_for(exc)
            except asyncio.CancelledError:
                if draining() or not cancelled_by_grpc():
                    raise
                raise ChannelClosed("task stream cancelled: the channel was replaced") from None
            finally:
                self._set_stream_up(False)
                self._stream_call = None
            if not draining():  # the server closed the stream (e.g. shutting down)
                await asyncio.sleep(backoff.next_delay())

    async def _take(self, call: grpc.aio.UnaryStreamCall, backoff: Backoff) -> None:
        assign = self.hooks.assign
        async for batch in call:
            self._set_stream_up(True)
            backoff.mark_healthy()
            for a in batch.assignments:
                assign(
                    Assignment(
                        a.task_id, a.type, a.attempt, a.payload, a.timeout_s, dict(a.metadata)
                    )
                )
            self.hooks.on_assigned()

    def _set_stream_up(self, up: bool) -> None:
        self.stream_up = up
        self.metrics.stream_up.set(1 if up else 0)

    # --- results and progress ---------------------------------------------------------
    async def report(self, batch: list[FinishedResult]) -> list[Ack]:
        """Over the report stream when it carries the batch, else the unary RPC.
        ResultsRejected: stale or unknown as a whole; ReportRefused: for its content."""

        def request() -> pb.ReportTaskResultRequest:
            return pb.ReportTaskResultRequest(
                session_token=self.token or "", results=[_to_pb(r) for r in batch]
            )

        reply = await self.reports.report(request())
        if reply is None:
            try:
                reply = await self.call("report", "ReportTaskResult", request)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    raise ResultsRejected(exc.details() or exc.code().name) from exc
                if content_refused(exc):
                    raise ReportRefused(exc.code().name, exc.details() or "") from exc
                raise
        return [
            Ack(a.task_id, a.attempt, _DISPOSITIONS.get(a.disposition, "unknown"))
            for a in reply.acks
        ]

    async def send_progress(
        self, session: str, latest: Iterable[tuple[tuple[str, int], tuple[float, str]]]
    ) -> None:
        """Best effort: failures are dropped (the next value supersedes them)."""
        for (task_id, attempt), (percent, message) in latest:
            with contextlib.suppress(grpc.aio.AioRpcError, SessionLost, ConnectionError):
                await self.call_once(
                    self._stub.UpdateTaskProgress,
                    pb.UpdateTaskProgressRequest(
                        session_token=session,
                        task_id=task_id,
                        attempt=attempt,
                        percent=percent,
                        message=message,
                    ),
                )

    # --- call helpers -----------------------------------------------------------------
    @property
    def _stub(self) -> pb_grpc.WorkerServiceStub:
        stub = self.conn.stub
        assert stub is not None, "the connection is opened at the start of run()"
        return stub

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.settings.token}"),)

    async def call(
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
            return await self.call_once(getattr(self._stub, method), request())

        return await self.retrier.call(operation, attempt, deadline=deadline)

    async def call_once(self, method: Callable[..., Awaitable[T]], request: object) -> T:
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
        retry_after_s=r.retry_after_s or 0.0,  # 0: no opinion
    )
