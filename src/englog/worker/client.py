"""The worker's life cycle in one place: register, heartbeat, stream, run, report.

Loops (all owned by one TaskGroup, cancelled together on shutdown):
- session: registers, then runs heartbeat + stream until the session or the
  connection is lost; re-registers with capped, jittered backoff, forever;
- reporter: sends finished results in batches, removing each only once the server
  acknowledged it (accepted, duplicate, stale or unknown);
- progress: sends the latest progress of each task, coalesced, best effort.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable

import grpc
import psutil
import structlog

from englog import __version__
from englog.domain.tasks import ResultOutcome
from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.resilience.backoff import Backoff
from englog.tasks.base import HandlerRegistry
from englog.worker.connection import make_channel
from englog.worker.runner import CancelReason, FinishedResult, Runner
from englog.worker.settings import WorkerSettings

log = structlog.get_logger("englog.worker")

_PB_STATUS = {
    ResultOutcome.COMPLETED: pb.RESULT_STATUS_COMPLETED,
    ResultOutcome.FAILED: pb.RESULT_STATUS_FAILED,
    ResultOutcome.CANCELLED: pb.RESULT_STATUS_CANCELLED,
}


# Codes with which the server refuses a whole report because of what it carries.
_REJECTED_WHOLE = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
MAX_REPORT_BYTES = 8 * 1024 * 1024
# How long shutdown waits for the server to acknowledge the last results.
RESULT_FLUSH_TIMEOUT_S = 10.0


class SessionLost(Exception):
    """The server no longer knows our session: register again."""


class Worker:
    def __init__(self, settings: WorkerSettings, registry: HandlerRegistry) -> None:
        if not registry.names():
            raise ValueError("the worker has no task handlers")
        self.settings = settings
        self.registry = registry
        self.runner = Runner(
            registry,
            settings.concurrency,
            settings.worker_id,
            self._result_ready,
            self._progress,
        )
        self._pending: dict[tuple[str, int], FinishedResult] = {}
        self._results_waiting = asyncio.Event()
        self._all_reported = asyncio.Event()
        self._all_reported.set()
        self._progress_latest: dict[tuple[str, int], tuple[float, str]] = {}
        self._session: str | None = None
        self._session_ready = asyncio.Event()
        self._heartbeat_s = 5.0
        self._draining = False
        self._stream_call: grpc.aio.UnaryStreamCall | None = None
        self._started = time.monotonic()
        self._process = psutil.Process(os.getpid())
        self.registered = asyncio.Event()
        self.stream_up = False
        self._log = log.bind(worker_id=settings.worker_id)

    # --- public ----------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then drain and report what finished."""
        channel = make_channel(self.settings)
        stub = pb_grpc.WorkerServiceStub(channel)
        try:
            async with asyncio.TaskGroup() as tg:
                session = tg.create_task(self._session_loop(stub), name="session")
                reporter = tg.create_task(self._reporter_loop(stub), name="reporter")
                progress = tg.create_task(self._progress_loop(stub), name="progress")
                await stop.wait()
                await self._shutdown(session, reporter, progress)
        finally:
            self.runner.close()
            await channel.close(grace=None)
            self._log.info("worker_stopped", pending_results=len(self._pending))

    @property
    def pending_results(self) -> int:
        return len(self._pending)

    # --- shutdown ----------------------------------------------------------------
    async def _shutdown(self, *loops: asyncio.Task[None]) -> None:
        session, reporter, progress = loops
        self._draining = True
        self._log.info("draining", active=self.runner.active_count)
        if self._stream_call is not None:
            self._stream_call.cancel()
        await self.runner.drain(self.settings.drain_timeout_s)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RESULT_FLUSH_TIMEOUT_S):
                await self._all_reported.wait()
        for loop in (session, reporter, progress):
            loop.cancel()

    # --- session: register, heartbeat, stream --------------------------------------
    async def _session_loop(self, stub: pb_grpc.WorkerServiceStub) -> None:
        """Runs until cancelled, draining included: heartbeats keep the leases of the
        tasks still finishing, and a lost session is re-established to report them."""
        backoff = Backoff(self.settings.reconnect)
        while True:
            try:
                await self._register(stub)
                backoff.reset()
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._heartbeat_loop(stub, backoff))
                    tg.create_task(self._stream_loop(stub, backoff))
            except* SessionLost:
                self._log.warning("session_lost_reregistering")
            except* grpc.aio.AioRpcError as group:
                err = group.exceptions[0]
                assert isinstance(err, grpc.aio.AioRpcError)
                self._log.warning("connection_problem", code=err.code().name, detail=err.details())
            self._invalidate_session()
            await asyncio.sleep(backoff.next_delay())

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.settings.token}"),)

    async def _register(self, stub: pb_grpc.WorkerServiceStub) -> None:
        s = self.settings
        reply = await stub.RegisterWorker(
            pb.RegisterWorkerRequest(
                worker_id=s.worker_id,
                name=s.name or s.worker_id,
                capabilities=self.registry.names(),
                version=__version__,
                metadata={"ai": s.ai, "pid": str(os.getpid())},
                max_concurrency=s.concurrency,
            ),
            metadata=self._metadata(),
            timeout=s.rpc_timeout_s,
        )
        self._session = reply.session_token
        self._heartbeat_s = reply.heartbeat_interval_s or 5.0
        self._session_ready.set()
        self.registered.set()
        self._results_waiting.set()  # flush whatever finished while we were away
        self._log.info("registered", heartbeat_interval_s=self._heartbeat_s)

    def _invalidate_session(self) -> None:
        self._session = None
        self._session_ready.clear()
        self.stream_up = False

    async def _heartbeat_loop(self, stub: pb_grpc.WorkerServiceStub, backoff: Backoff) -> None:
        while True:
            reply = await self._call(stub.WorkerHeartbeat, self._heartbeat_request())
            for task_id in reply.cancel_task_ids:
                if self.runner.cancel(task_id, CancelReason.SERVER):
                    self._log.info("task_cancel_requested", task_id=task_id)
            backoff.mark_healthy()
            await asyncio.sleep(self._heartbeat_s)

    def _heartbeat_request(self) -> pb.WorkerHeartbeatRequest:
        # Capacity is the per-type ceiling (0 would pause a type); the server counts
        # what it has in flight against it. Results not yet acknowledged keep their
        # leases too, so a slow report never turns finished work into a retry.
        held = set(self.runner.active_ids) | {task_id for task_id, _ in self._pending}
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
            ),
            capacity={name: self.settings.concurrency for name in self.registry.names()},
            active_task_ids=sorted(held),
        )

    async def _stream_loop(self, stub: pb_grpc.WorkerServiceStub, backoff: Backoff) -> None:
        while not self._draining:
            held = set(self.runner.active_ids) | {k[0] for k in self._pending}
            call = stub.StreamTasks(
                pb.StreamTasksRequest(session_token=self._session or "", held_task_ids=held),
                metadata=self._metadata(),
            )
            self._stream_call = call
            try:
                async for batch in call:
                    self.stream_up = True
                    backoff.mark_healthy()
                    for a in batch.assignments:
                        self.runner.submit(a)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.CANCELLED and self._draining:
                    return
                self._raise_for(exc)
            finally:
                self.stream_up = False
                self._stream_call = None
            if not self._draining:  # the server closed the stream (e.g. shutting down)
                await asyncio.sleep(backoff.next_delay())

    # --- results and progress ----------------------------------------------------
    def _result_ready(self, result: FinishedResult) -> None:
        self._pending[result.key] = result
        self._all_reported.clear()
        self._progress_latest.pop(result.key, None)
        self._results_waiting.set()

    def _progress(self, task_id: str, attempt: int, percent: float, message: str) -> None:
        if (task_id, attempt) not in self._pending:
            self._progress_latest[(task_id, attempt)] = (percent, message)

    async def _reporter_loop(self, stub: pb_grpc.WorkerServiceStub) -> None:
        backoff = Backoff(self.settings.reconnect)
        while True:
            await self._results_waiting.wait()
            self._results_waiting.clear()
            while self._pending:
                await self._session_ready.wait()
                try:
                    await self._report_some(stub)
                    backoff.reset()
                except SessionLost:
                    # The session loop notices too (its heartbeat) and registers again;
                    # the next attempt uses whatever session is current then.
                    await asyncio.sleep(backoff.next_delay())
                except grpc.aio.AioRpcError as exc:
                    self._log.warning(
                        "report_failed", code=exc.code().name, pending=len(self._pending)
                    )
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

    async def _report_some(self, stub: pb_grpc.WorkerServiceStub) -> None:
        batch = self._next_batch()
        try:
            await self._report(stub, batch)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _REJECTED_WHOLE or len(batch) == 1:
                raise
            # One bad result must not hold back the others: report them one by one.
            for result in batch:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self._report(stub, [result])

    async def _report(self, stub: pb_grpc.WorkerServiceStub, batch: list[FinishedResult]) -> None:
        request = pb.ReportTaskResultRequest(
            session_token=self._session or "", results=[_to_pb(r) for r in batch]
        )
        try:
            reply = await self._call(stub.ReportTaskResult, request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                self._log.warning("results_rejected", detail=exc.details(), count=len(batch))
                self._forget(r.key for r in batch)
                return
            if exc.code() in _REJECTED_WHOLE and len(batch) == 1:
                self._replace_rejected(batch[0], exc)
            raise
        for ack in reply.acks:
            if ack.disposition == pb.RESULT_DISPOSITION_STALE:
                self._log.warning("stale_result_dropped", task_id=ack.task_id, attempt=ack.attempt)
        self._forget((a.task_id, a.attempt) for a in reply.acks)

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
        self._pending[result.key] = dataclasses.replace(
            result,
            outcome=ResultOutcome.FAILED,
            result=b"",
            error=f"server refused the result ({exc.code().name}): {exc.details()}",
            retriable=False,
        )

    def _forget(self, keys: Iterable[tuple[str, int]]) -> None:
        for key in keys:
            self._pending.pop(key, None)
        if not self._pending:
            self._all_reported.set()

    async def _progress_loop(self, stub: pb_grpc.WorkerServiceStub) -> None:
        """Best effort: the latest value per task every interval; failures are dropped."""
        while True:
            await asyncio.sleep(self.settings.progress_interval_s)
            session = self._session
            if not self._progress_latest or session is None:
                continue
            latest, self._progress_latest = self._progress_latest, {}
            for (task_id, attempt), (percent, message) in latest.items():
                with contextlib.suppress(grpc.aio.AioRpcError, SessionLost):
                    await self._call(
                        stub.UpdateTaskProgress,
                        pb.UpdateTaskProgressRequest(
                            session_token=session,
                            task_id=task_id,
                            attempt=attempt,
                            percent=percent,
                            message=message,
                        ),
                    )

    # --- helpers ----------------------------------------------------------------
    async def _call(self, method: grpc.aio.UnaryUnaryMultiCallable, request: object) -> object:
        try:
            return await method(
                request, metadata=self._metadata(), timeout=self.settings.rpc_timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            self._raise_for(exc)

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
