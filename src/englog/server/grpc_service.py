"""`englog.v1.WorkerService`: the workers' side of the server.

Every RPC authenticates the worker token first, then the session (sessions live in
the store, so a restarted server or another replica honours them). Status codes:
UNAUTHENTICATED for a bad worker token or an unknown session (the detail tells the
worker to re-register), INVALID_ARGUMENT for malformed requests (values the store
refuses as InvalidData too), NOT_FOUND for an unknown task, FAILED_PRECONDITION
when every reported result is stale.

Task state changes go through the server's `TaskQueue`; this module only checks and
converts what crosses the wire."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, NoReturn

import grpc
import structlog
from google.protobuf.message import Message

from englog import __version__
from englog.domain.tasks import (
    Disposition,
    ReportedResult,
    ResultDecision,
    ResultOutcome,
    Task,
)
from englog.domain.tokens import hash_token, new_token
from englog.logs import redact
from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.server.result_schemas import result_problem
from englog.server.state import ServerState
from englog.server.storable import finite_or_none, nul_field, parse_result, result_has_nul
from englog.server.worker_auth import WorkerIdentity, bearer
from englog.store import Heartbeat
from englog.store.base import InvalidData, StoreError, WorkerInfo

log = structlog.get_logger("englog.server.grpc")

REREGISTER_DETAIL = "unknown or expired session: register again"

_OUTCOMES = {
    pb.RESULT_STATUS_COMPLETED: ResultOutcome.COMPLETED,
    pb.RESULT_STATUS_FAILED: ResultOutcome.FAILED,
    pb.RESULT_STATUS_CANCELLED: ResultOutcome.CANCELLED,
}
_DISPOSITIONS = {
    Disposition.ACCEPTED: pb.RESULT_DISPOSITION_ACCEPTED,
    Disposition.DUPLICATE: pb.RESULT_DISPOSITION_DUPLICATE,
    Disposition.STALE: pb.RESULT_DISPOSITION_STALE,
    Disposition.UNKNOWN_TASK: pb.RESULT_DISPOSITION_UNKNOWN_TASK,
}


async def _abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, detail: str) -> NoReturn:
    await context.abort(code, detail)
    raise AssertionError("unreachable")  # abort raises; this keeps type checkers honest


# Assignments per stream message stay under this many bytes (a task's payload is at most
# 1 MiB), well below the 16 MiB message limit both sides set.
MAX_BATCH_BYTES = 4 * 1024 * 1024


def batches(tasks: Sequence[Task]) -> Iterator[pb.TaskAssignmentBatch]:
    """Split a claim into messages bounded in bytes, one task at least each."""
    current: list[pb.TaskAssignment] = []
    size = 0
    for task in tasks:
        item = assignment(task)
        item_size = item.ByteSize()
        if current and size + item_size > MAX_BATCH_BYTES:
            yield pb.TaskAssignmentBatch(assignments=current)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        yield pb.TaskAssignmentBatch(assignments=current)


def assignment(task: Task) -> pb.TaskAssignment:
    started = task.started_at or time.time()
    return pb.TaskAssignment(
        task_id=task.id,
        type=task.type,
        payload=json.dumps(task.payload, separators=(",", ":")).encode(),
        priority=task.priority,
        deadline=started + task.timeout_s,
        attempt=task.attempt,
        metadata=task.metadata,
        timeout_s=task.timeout_s,
    )


class WorkerService(pb_grpc.WorkerServiceServicer):
    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._queue = state.queue
        self._dispatcher = state.queue.dispatcher
        self._auth = state.worker_auth

    # --- authentication ------------------------------------------------------
    async def _check_worker_token(self, context: grpc.aio.ServicerContext) -> WorkerIdentity:
        """The caller's identity (the interceptor refused unknown tokens already; this
        holds when the service runs without it, as in unit tests)."""
        token = bearer(context.invocation_metadata())
        if token is None:
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing worker token")
        identity = await self._store_call(context, self._auth.identify(token))
        if identity is None:
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, "invalid worker token")
        return identity  # type: ignore[no-any-return]

    async def _worker_for(self, session_token: str, context: grpc.aio.ServicerContext) -> str:
        """The worker whose session this is, when the caller is the identity that opened
        it; else UNAUTHENTICATED (register again)."""
        identity = await self._check_worker_token(context)
        token_hash = hash_token(session_token)
        cached = self._state.sessions.get(token_hash)
        if cached is None:
            session = await self._store_call(context, self._state.store.get_session(token_hash))
            if session is None:
                await _abort(context, grpc.StatusCode.UNAUTHENTICATED, REREGISTER_DETAIL)
            cached = self._state.sessions[token_hash] = (session.worker_id, session.identity)
        worker_id, opened_by = cached
        if opened_by and opened_by != identity.key:
            # Another credential's session: as if unknown (nothing said about whose).
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, REREGISTER_DETAIL)
        return worker_id

    async def _refuse_nul(self, request: Message, context: grpc.aio.ServicerContext) -> None:
        field = nul_field(request)
        if field is not None:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{field} contains NUL")

    async def _store_call(self, context: grpc.aio.ServicerContext, call: Any) -> Any:
        try:
            return await call
        except InvalidData as exc:  # the request's fault: a retry cannot help
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreError as exc:
            log.error("store_error", error=str(exc))
            await _abort(
                context, grpc.StatusCode.UNAVAILABLE, f"store unavailable: {redact(str(exc))}"
            )

    # --- RPCs ----------------------------------------------------------------
    async def RegisterWorker(
        self, request: pb.RegisterWorkerRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterWorkerResponse:
        identity = await self._check_worker_token(context)
        await self._refuse_nul(request, context)
        problem = registration_problem(request)
        if problem is not None:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, problem)
        refused = await self._registration_refused(request.worker_id, identity, context)
        if refused is not None:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, refused)
        store = self._state.store
        info = WorkerInfo(
            id=request.worker_id,
            name=request.name or request.worker_id,
            capabilities=tuple(request.capabilities),
            version=request.version,
            metadata=dict(request.metadata),
            max_concurrency=request.max_concurrency,
        )
        token = new_token("s_")
        token_hash = hash_token(token)
        registered = await self._store_call(
            context, store.register_worker(info, token_hash, self._state.clock(), identity.key)
        )
        if not registered:
            log.warning("worker_registration_refused", worker_id=info.id, identity=identity.key)
            await _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "this worker id is in use by a live worker with another credential",
            )
        self._state.forget_workers({info.id})
        self._state.sessions[token_hash] = (info.id, identity.key)
        self._state.known_types.update(info.capabilities)
        log.info("worker_registered", worker_id=info.id, capabilities=list(info.capabilities))
        settings = self._state.settings
        return pb.RegisterWorkerResponse(
            session_token=token,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            lease_ttl_s=settings.lease_ttl_s,
            server_version=__version__,
        )

    async def _registration_refused(
        self, worker_id: str, identity: WorkerIdentity, context: grpc.aio.ServicerContext
    ) -> str | None:
        """Why `identity` may not register `worker_id` (naming no other worker)."""
        if not identity.may_register(worker_id):
            return "this worker credential may register only the worker id it was created for"
        if self._state.settings.bind_worker_certs and worker_id not in cert_names(context):
            return "this worker's client certificate does not carry its worker id"
        if identity.worker_id is None and await self._store_call(
            context, self._state.store.has_worker_credential(worker_id)
        ):
            return (
                "this worker id has its own credential (englog workers create); register"
                " with it, not a shared token"
            )
        return None

    async def WorkerHeartbeat(
        self, request: pb.WorkerHeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> pb.WorkerHeartbeatResponse:
        await self._worker_for(request.session_token, context)
        await self._refuse_nul(request, context)
        reply = await self._store_call(
            context,
            self._queue.heartbeat(
                Heartbeat(
                    token_hash=hash_token(request.session_token),
                    status=request.status,
                    stats=_stats_dict(request.stats),
                    capacity=dict(request.capacity),
                    task_ids=list(request.active_task_ids),
                )
            ),
        )
        if reply is None:  # never registered, replaced, or declared dead after silence
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, REREGISTER_DETAIL)
        return pb.WorkerHeartbeatResponse(
            server_time=self._state.clock(), cancel_task_ids=reply.cancel_task_ids
        )

    async def StreamTasks(
        self, request: pb.StreamTasksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TaskAssignmentBatch]:
        worker_id = await self._worker_for(request.session_token, context)
        await self._refuse_nul(request, context)
        worker = await self._store_call(context, self._state.store.get_worker(worker_id))
        if worker is None:
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, REREGISTER_DETAIL)
        stream = await self._store_call(
            context,
            self._dispatcher.open_stream(
                worker_id,
                worker.info.capabilities,
                worker.info.max_concurrency,
                request.held_task_ids,
                advertised=worker.capacity,
            ),
        )
        log.info("stream_opened", worker_id=worker_id, inflight=len(stream.inflight))
        # Headers now, not with the first batch: the worker knows its stream is open
        # (its readiness) even while the queue is empty.
        await context.send_initial_metadata((("englog-stream", "open"),))
        try:
            self._state.metrics.streams.inc()
            async for tasks in self._dispatcher.assignments(stream):
                now = self._state.clock()
                for task in tasks:
                    self._state.metrics.assigned_of(task.type).inc()
                    if task.attempt == 1 and task.reassignments == 0:
                        self._state.metrics.first_leased(task.type, task.created_at, now)
                self._state.metrics.claim_batch.observe(len(tasks))
                for message in batches(tasks):
                    yield message
        except StoreError as exc:
            log.error("store_error", error=str(exc), worker_id=worker_id)
            await _abort(context, grpc.StatusCode.UNAVAILABLE, f"store unavailable: {exc}")
        finally:
            self._state.metrics.streams.dec()
            self._dispatcher.close_stream(stream)
            log.info("stream_closed", worker_id=worker_id)
            # Leases pushed but never sent go back now, not when the worker returns.
            with contextlib.suppress(Exception):
                await self._dispatcher.release(stream)

    async def UpdateTaskProgress(
        self, request: pb.UpdateTaskProgressRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTaskProgressResponse:
        worker_id = await self._worker_for(request.session_token, context)
        await self._refuse_nul(request, context)
        if not 0.0 <= request.percent <= 100.0:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "percent must be in [0, 100]")
        accepted = await self._store_call(
            context,
            self._queue.progress(
                request.task_id,
                request.attempt,
                worker_id,
                request.percent,
                request.message or None,
            ),
        )
        if (
            not accepted
            and await self._store_call(context, self._state.store.get_task(request.task_id)) is None
        ):
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"unknown task {request.task_id}")
        return pb.UpdateTaskProgressResponse(accepted=accepted)

    async def ReportTaskResult(
        self, request: pb.ReportTaskResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportTaskResultResponse:
        decisions = await self._report(request, context)
        await _check_all_rejected(decisions, context)
        return _acks(decisions)

    async def ReportTaskResults(
        self,
        requests: AsyncIterator[pb.ReportTaskResultRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.ReportTaskResultResponse]:
        """`ReportTaskResult` over one stream, each request answered by its acks in
        order. Every result gets its ack, stale and unknown ones included (the unary
        call turns a batch of only those into an error status); a malformed report or
        an unknown session ends the stream with the unary call's status."""
        async for request in requests:
            yield _acks(await self._report(request, context))

    async def _report(
        self, request: pb.ReportTaskResultRequest, context: grpc.aio.ServicerContext
    ) -> list[ResultDecision]:
        worker_id = await self._worker_for(request.session_token, context)
        if not request.results:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "no results in the request")
        reported = [
            await self._checked_result(await self._reported(r, worker_id, context), context)
            for r in request.results
        ]
        decisions: list[ResultDecision] = await self._store_call(
            context, self._queue.report(worker_id, reported)
        )
        return decisions

    async def _checked_result(
        self, result: ReportedResult, context: grpc.aio.ServicerContext
    ) -> ReportedResult:
        """A completed result that does not fit its task type's result schema becomes
        a failed attempt (retriable) whose error says why."""
        if result.outcome is not ResultOutcome.COMPLETED:
            return result
        stream = self._dispatcher.streams.get(result.worker_id)
        task_type = stream.inflight.get(result.task_id) if stream is not None else None
        if task_type is None:
            task = await self._store_call(context, self._state.store.get_task(result.task_id))
            if task is None:
                return result  # the fence answers UNKNOWN_TASK
            task_type = task.type
        problem = result_problem(task_type, result.result)
        if problem is None:
            return result
        log.warning("result_rejected", task_id=result.task_id, worker_id=result.worker_id)
        return dataclasses.replace(
            result, outcome=ResultOutcome.FAILED, result=None, error=problem, retriable=True
        )

    async def _reported(
        self, r: pb.TaskResult, worker_id: str, context: grpc.aio.ServicerContext
    ) -> ReportedResult:
        outcome = _OUTCOMES.get(r.status)
        if outcome is None or not r.task_id or r.attempt < 1:
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"result for task {r.task_id!r} needs a task_id, attempt >= 1 and a status",
            )
        try:
            result = parse_result(r.result)
        except ValueError:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"result of {r.task_id} is not JSON"
            )
        if "\x00" in r.task_id or "\x00" in r.error or result_has_nul(r.result, result):
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"result of {r.task_id!r} contains NUL"
            )
        return ReportedResult(
            task_id=r.task_id,
            attempt=r.attempt,
            worker_id=worker_id,
            outcome=outcome,
            result=result,
            error=r.error or None,
            retriable=r.retriable,
            retry_after_s=r.retry_after_s or None,  # 0: no opinion (domain checks range)
        )

    async def HealthCheck(
        self, request: pb.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> pb.HealthCheckResponse:
        await self._check_worker_token(context)
        try:
            await self._state.probe_store()
            store_status = "SERVING"
        except StoreError:
            store_status = "NOT_SERVING"
        return pb.HealthCheckResponse(
            status="SERVING" if store_status == "SERVING" and self._state.ready else "NOT_SERVING",
            services={"store": store_status, "dispatcher": "SERVING"},
            active_workers=len(self._dispatcher.streams),
            server_time=self._state.clock(),
            version=__version__,
        )


# What a worker may say about itself (issue 22: a 15 MB name or 100,000 capabilities
# were taken and sent to every operator page).
MAX_WORKER_ID = 128
MAX_NAME = 200
MAX_VERSION = 64
MAX_CAPABILITIES = 64
MAX_CAPABILITY = 100
MAX_METADATA = 32
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1024
MAX_CONCURRENCY = 1024


def cert_names(context: grpc.aio.ServicerContext) -> set[str]:
    """The names of the caller's client certificate (common name, DNS alternative
    names); empty without one."""
    auth = context.auth_context() or {}
    names = [*auth.get("x509_common_name", ()), *auth.get("x509_subject_alternative_name", ())]
    return {n.decode() if isinstance(n, bytes) else str(n) for n in names}


def registration_problem(request: pb.RegisterWorkerRequest) -> str | None:
    """What is wrong with a registration, or None."""
    if not request.worker_id.strip():
        return "worker_id is required"
    if len(request.worker_id) > MAX_WORKER_ID or not request.worker_id.isprintable():
        return f"worker_id must be 1 to {MAX_WORKER_ID} printable characters"
    if len(request.name) > MAX_NAME:
        return f"name is over {MAX_NAME} characters"
    if len(request.version) > MAX_VERSION:
        return f"version is over {MAX_VERSION} characters"
    if not 1 <= request.max_concurrency <= MAX_CONCURRENCY:
        return f"max_concurrency must be 1 to {MAX_CONCURRENCY}"
    if not request.capabilities:
        return "capabilities are required"
    if len(request.capabilities) > MAX_CAPABILITIES:
        return f"at most {MAX_CAPABILITIES} capabilities"
    if any(not 1 <= len(c) <= MAX_CAPABILITY for c in request.capabilities):
        return f"each capability must be 1 to {MAX_CAPABILITY} characters"
    if len(request.metadata) > MAX_METADATA:
        return f"at most {MAX_METADATA} metadata entries"
    for key, value in request.metadata.items():
        if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            return (
                f"metadata keys are at most {MAX_METADATA_KEY} characters and values"
                f" {MAX_METADATA_VALUE}"
            )
    return None


def _acks(decisions: Sequence[ResultDecision]) -> pb.ReportTaskResultResponse:
    return pb.ReportTaskResultResponse(
        acks=[
            pb.ResultAck(
                task_id=d.task_id,
                attempt=d.attempt,
                disposition=_DISPOSITIONS[d.disposition],
                detail=d.detail,
            )
            for d in decisions
        ]
    )


async def _check_all_rejected(decisions: Sequence[Any], context: grpc.aio.ServicerContext) -> None:
    kinds = {d.disposition for d in decisions}
    if kinds == {Disposition.STALE}:
        detail = "; ".join(f"{d.task_id}@{d.attempt}: {d.detail or 'stale'}" for d in decisions)
        await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"stale attempt: {detail}")
    if kinds == {Disposition.UNKNOWN_TASK}:
        ids = ", ".join(d.task_id for d in decisions)
        await _abort(context, grpc.StatusCode.NOT_FOUND, f"unknown task: {ids}")


def _stats_dict(stats: pb.WorkerStats) -> dict[str, Any]:
    """The figures as stored. A NaN or infinite figure is dropped (None), not refused:
    PostgreSQL's JSON cannot hold it, and a heartbeat is the worker's liveness."""
    return {
        "active_tasks": stats.active_tasks,
        "completed_tasks": stats.completed_tasks,
        "failed_tasks": stats.failed_tasks,
        "cpu_percent": finite_or_none(stats.cpu_percent),
        "memory_bytes": stats.memory_bytes,
        "uptime_s": finite_or_none(stats.uptime_s),
        "connection_status": stats.connection_status,
        "dependencies": dict(stats.dependencies),
    }
