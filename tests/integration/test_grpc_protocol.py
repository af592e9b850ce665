"""The worker protocol against a real in-process server on a loopback port: auth,
sessions, flow control, fencing and cancellation, driven by a hand-written client so
each rule is checked on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.server.app import Server
from englog.server.state import ServerSettings
from tests.support.procs import eventually

TOKEN = "wt-proto"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    s = Server(
        ServerSettings(
            db_url=f"sqlite:///{tmp_path / 'p.db'}",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=(TOKEN,),
            admin_token="adm",
            # 2 s: a lease a loaded 2-core machine cannot lose by a stalled loop alone.
            lease_ttl_s=2.0,
            # Dead after 3 silent intervals (1.5 s): not a gap a busy machine makes
            # between two of a test's beats.
            heartbeat_interval_s=0.5,
            reap_interval_s=0.1,
        )
    )
    await s.start()
    try:
        yield s
    finally:
        await s.stop(grace_s=0.5)


@pytest.fixture
async def stub(server: Server) -> AsyncIterator[pb_grpc.WorkerServiceStub]:
    assert server.addresses is not None
    async with grpc.aio.insecure_channel(server.addresses.grpc) as channel:
        yield pb_grpc.WorkerServiceStub(channel)


async def register(
    stub: pb_grpc.WorkerServiceStub, worker_id: str = "w1", concurrency: int = 2
) -> str:
    reply = await stub.RegisterWorker(
        pb.RegisterWorkerRequest(
            worker_id=worker_id, capabilities=["noop", "sleep"], max_concurrency=concurrency
        ),
        metadata=AUTH,
    )
    assert reply.heartbeat_interval_s == pytest.approx(0.5)
    assert len(reply.session_token) >= 22  # >= 128 bits, url-safe base64
    return reply.session_token


async def submit(server: Server, n: int, type_: str = "noop", **payload: object) -> list[str]:
    from englog.domain.tasks import NewTask

    tasks = await server.state.store.submit_tasks(
        [NewTask(type=type_, payload={"i": i, **payload}) for i in range(n)], time.time()
    )
    server.dispatcher.notify()
    return [t.id for t in tasks]


class Stream:
    """Reads a StreamTasks call in its own task, so a test can wait for the next batch
    with a timeout without cancelling the call itself."""

    def __init__(self, call: grpc.aio.UnaryStreamCall) -> None:
        self.call = call
        self.batches: asyncio.Queue[list[pb.TaskAssignment]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for batch in self.call:
                self.batches.put_nowait(list(batch.assignments))

    async def next(self, within: float = 5.0) -> list[pb.TaskAssignment]:
        async with asyncio.timeout(within):
            return await self.batches.get()

    async def close(self) -> None:
        self.call.cancel()
        await self._reader

    async def close_when_done(self) -> None:
        """Wait for the server to end the stream."""
        await self._reader


def open_stream(
    stub: pb_grpc.WorkerServiceStub, session: str, held: list[str] | None = None
) -> Stream:
    return Stream(
        stub.StreamTasks(
            pb.StreamTasksRequest(session_token=session, held_task_ids=held or []),
            metadata=AUTH,
        )
    )


@contextlib.asynccontextmanager
async def heartbeating(
    stub: pb_grpc.WorkerServiceStub, session: str, held: list[str] | None = None
) -> AsyncIterator[list[pb.WorkerHeartbeatResponse]]:
    """Keep the session alive (every 0.1 s) while declaring only `held` as running, so
    the leases of every other task of the worker run out although the worker lives."""
    replies: list[pb.WorkerHeartbeatResponse] = []

    async def beat() -> None:
        while True:
            replies.append(
                await stub.WorkerHeartbeat(
                    pb.WorkerHeartbeatRequest(session_token=session, active_task_ids=held or []),
                    metadata=AUTH,
                )
            )
            await asyncio.sleep(0.1)

    task = asyncio.create_task(beat())
    try:
        yield replies
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def result(a: pb.TaskAssignment, status: int = pb.RESULT_STATUS_COMPLETED) -> pb.TaskResult:
    return pb.TaskResult(task_id=a.task_id, attempt=a.attempt, status=status, result=a.payload)


async def test_bad_worker_token_is_unauthenticated(stub: pb_grpc.WorkerServiceStub) -> None:
    for metadata in ((), (("authorization", "Bearer nope"),)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.RegisterWorker(
                pb.RegisterWorkerRequest(worker_id="x", capabilities=["noop"], max_concurrency=1),
                metadata=metadata,
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_unknown_session_asks_to_register_again(stub: pb_grpc.WorkerServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WorkerHeartbeat(pb.WorkerHeartbeatRequest(session_token="bogus"), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "register" in (err.value.details() or "")


async def test_invalid_registration_is_invalid_argument(stub: pb_grpc.WorkerServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterWorker(
            pb.RegisterWorkerRequest(worker_id="w", capabilities=["noop"], max_concurrency=0),
            metadata=AUTH,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_concurrency" in (err.value.details() or "")


async def test_reregistration_replaces_the_session(stub: pb_grpc.WorkerServiceStub) -> None:
    first = await register(stub)
    second = await register(stub)
    assert first != second
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WorkerHeartbeat(pb.WorkerHeartbeatRequest(session_token=first), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await stub.WorkerHeartbeat(pb.WorkerHeartbeatRequest(session_token=second), metadata=AUTH)


async def test_flow_control_never_exceeds_capacity(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    session = await register(stub, concurrency=2)
    await submit(server, 5)
    stream = open_stream(stub, session)
    first = await stream.next()
    assert len(first) == 2
    with pytest.raises(TimeoutError):
        await stream.next(within=0.5)  # full: nothing more until a result comes back
    reply = await stub.ReportTaskResult(
        pb.ReportTaskResultRequest(session_token=session, results=[result(first[0])]),
        metadata=AUTH,
    )
    assert [a.disposition for a in reply.acks] == [pb.RESULT_DISPOSITION_ACCEPTED]
    assert len(await stream.next()) == 1
    await stream.close()


async def test_duplicate_and_stale_results_are_fenced(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    session = await register(stub, concurrency=1)
    [task_id] = await submit(server, 1)
    stream = open_stream(stub, session)
    [a] = await stream.next()
    assert a.attempt == 1 and json.loads(a.payload) == {"i": 0}

    # The worker heartbeats without naming the task: its 2 s lease expires and the
    # task is requeued as attempt 2.
    async def requeued() -> bool:
        t = await server.state.store.get_task(task_id)
        return t is not None and t.attempt >= 2

    # It keeps heartbeating throughout (naming no task), so it is never declared dead.
    async with heartbeating(stub, session):
        await eventually(requeued, what="lease expiry")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ReportTaskResult(
                pb.ReportTaskResultRequest(session_token=session, results=[result(a)]),
                metadata=AUTH,
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # Attempt 2 arrives on the same stream; its result is accepted once, then duplicate.
        [a2] = await stream.next()
        assert (a2.task_id, a2.attempt) == (task_id, 2)
        dispositions = []
        for _ in range(2):
            reply = await stub.ReportTaskResult(
                pb.ReportTaskResultRequest(session_token=session, results=[result(a2)]),
                metadata=AUTH,
            )
            dispositions.append(reply.acks[0].disposition)
        assert dispositions == [pb.RESULT_DISPOSITION_ACCEPTED, pb.RESULT_DISPOSITION_DUPLICATE]
    task = await server.state.store.get_task(task_id)
    assert task is not None and task.status == "completed" and task.result == {"i": 0}
    await stream.close()


async def test_unknown_task_result_is_not_found(stub: pb_grpc.WorkerServiceStub) -> None:
    session = await register(stub)
    missing = pb.TaskResult(task_id="nope", attempt=1, status=pb.RESULT_STATUS_COMPLETED)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ReportTaskResult(
            pb.ReportTaskResultRequest(session_token=session, results=[missing]), metadata=AUTH
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateTaskProgress(
            pb.UpdateTaskProgressRequest(session_token=session, task_id="nope", attempt=1),
            metadata=AUTH,
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "raw",
    [b"{no", b"[" * 5000 + b"]" * 5000, b'{"x": NaN}', b"[Infinity]", b"1e999"],
    ids=["broken", "nested_too_deep", "nan", "infinity", "overflowing_float"],
)
async def test_malformed_result_is_invalid_argument(
    server: Server, stub: pb_grpc.WorkerServiceStub, raw: bytes
) -> None:
    """Results PostgreSQL would refuse (NaN, Infinity) or the parser cannot read (deep
    nesting) are the worker's error, not a store outage a worker would retry forever."""
    session = await register(stub)
    bad = pb.TaskResult(task_id="t", attempt=1, status=pb.RESULT_STATUS_COMPLETED, result=raw)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ReportTaskResult(
            pb.ReportTaskResultRequest(session_token=session, results=[bad]), metadata=AUTH
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "result of t is not JSON"


@pytest.mark.parametrize(
    ("error", "raw", "code"),
    [
        ("bad\x00", b"", grpc.StatusCode.INVALID_ARGUMENT),
        ("", b'{"text": "a\\u0000b"}', grpc.StatusCode.INVALID_ARGUMENT),
        ("", b'{"a\\u0000": 1}', grpc.StatusCode.INVALID_ARGUMENT),
        # An escaped backslash before "u0000" is plain text, not NUL: past the check.
        ("", b'{"text": "a\\\\u0000b"}', grpc.StatusCode.NOT_FOUND),
    ],
    ids=["error", "result_value", "result_key", "escaped_backslash"],
)
async def test_nul_in_a_result_is_invalid_argument(
    server: Server, stub: pb_grpc.WorkerServiceStub, error: str, raw: bytes, code: grpc.StatusCode
) -> None:
    """PostgreSQL cannot store NUL: refused as the worker's error on every store, never
    answered as a store outage the worker would retry forever."""
    session = await register(stub)
    bad = pb.TaskResult(
        task_id="t", attempt=1, status=pb.RESULT_STATUS_FAILED, error=error, result=raw
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ReportTaskResult(
            pb.ReportTaskResultRequest(session_token=session, results=[bad]), metadata=AUTH
        )
    assert err.value.code() == code, err.value.details()


async def test_nul_in_any_request_string_is_invalid_argument(
    stub: pb_grpc.WorkerServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterWorker(
            pb.RegisterWorkerRequest(
                worker_id="w1", capabilities=["noop"], max_concurrency=1, metadata={"k": "v\x00"}
            ),
            metadata=AUTH,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "metadata contains NUL"
    session = await register(stub)
    beat = pb.WorkerHeartbeatRequest(
        session_token=session, stats=pb.WorkerStats(dependencies={"ollama": "up\x00"})
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WorkerHeartbeat(beat, metadata=AUTH)
    assert err.value.details() == "stats.dependencies contains NUL"
    progress = pb.UpdateTaskProgressRequest(
        session_token=session, task_id="t", attempt=1, message="half\x00"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateTaskProgress(progress, metadata=AUTH)
    assert err.value.details() == "message contains NUL"


async def test_non_finite_heartbeat_figures_are_dropped_not_refused(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    """PostgreSQL's JSON cannot hold NaN or Infinity; the heartbeat (the worker's
    liveness) still counts, without those figures."""
    session = await register(stub)
    stats = pb.WorkerStats(cpu_percent=float("nan"), uptime_s=float("inf"), active_tasks=1)
    await stub.WorkerHeartbeat(
        pb.WorkerHeartbeatRequest(session_token=session, stats=stats), metadata=AUTH
    )
    worker = await server.state.store.get_worker("w1")
    assert worker is not None and worker.stats["active_tasks"] == 1
    assert worker.stats["cpu_percent"] is None and worker.stats["uptime_s"] is None


async def test_heartbeat_renews_leases_and_carries_cancellations(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    session = await register(stub, concurrency=1)
    [task_id] = await submit(server, 1, "sleep", seconds=30)
    stream = open_stream(stub, session)
    [a] = await stream.next()
    # Heartbeats for 3 lease lengths keep the attempt alive.
    for _ in range(30):
        await stub.WorkerHeartbeat(
            pb.WorkerHeartbeatRequest(session_token=session, active_task_ids=[task_id]),
            metadata=AUTH,
        )
        await asyncio.sleep(0.2)
    task = await server.state.store.get_task(task_id)
    assert task is not None and task.status == "running" and task.attempt == 1
    assert server.addresses is not None
    async with httpx.AsyncClient(base_url=f"http://{server.addresses.http}") as http:
        r = await http.post(f"/v1/tasks/{task_id}/cancel", headers={"Authorization": "Bearer adm"})
        assert r.status_code in (200, 202), r.text
    reply = await stub.WorkerHeartbeat(
        pb.WorkerHeartbeatRequest(session_token=session, active_task_ids=[task_id]), metadata=AUTH
    )
    assert list(reply.cancel_task_ids) == [task_id]
    await stub.ReportTaskResult(
        pb.ReportTaskResultRequest(
            session_token=session, results=[result(a, pb.RESULT_STATUS_CANCELLED)]
        ),
        metadata=AUTH,
    )
    task = await server.state.store.get_task(task_id)
    assert task is not None and task.status == "cancelled"
    await stream.close()


async def test_assignments_lost_in_transit_are_requeued_on_reconnect(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    session = await register(stub, concurrency=2)
    ids = await submit(server, 2)
    stream = open_stream(stub, session)
    got = await stream.next()
    assert {a.task_id for a in got} == set(ids)
    await stream.close()
    # The worker reopens its stream holding only the first task: the second is requeued
    # (attempt 2) and delivered again on the new stream.
    stream = open_stream(stub, session, held=[ids[0]])
    [again] = await stream.next()
    assert (again.task_id, again.attempt) == (ids[1], 2)
    await stream.close()


async def test_health_check_and_standard_health(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    reply = await stub.HealthCheck(pb.HealthCheckRequest(), metadata=AUTH)
    assert reply.status == "SERVING" and reply.services["store"] == "SERVING"
    assert server.addresses is not None
    async with grpc.aio.insecure_channel(server.addresses.grpc) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        r = await health.Check(health_pb2.HealthCheckRequest(service="englog.v1.WorkerService"))
        assert r.status == health_pb2.HealthCheckResponse.SERVING


async def test_silent_worker_is_declared_dead_and_must_register_again(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    session = await register(stub, concurrency=1)
    [task_id] = await submit(server, 1, "sleep", seconds=30)
    stream = open_stream(stub, session)
    [a] = await stream.next()

    # No heartbeat for 3 intervals (1.5 s): the worker is dead, its stream ends and its
    # task goes back as attempt 2, a reassignment that does not use up a retry.
    async def taken_back() -> object:
        t = await server.state.store.get_task(task_id)
        return t is not None and t.attempt == 2 and t

    task = await eventually(taken_back, within=10, what="dead-worker reassignment")
    assert task.reassignments == 1 and task.error == "worker w1 went silent"
    async with asyncio.timeout(5):
        await stream.close_when_done()
    worker = await server.state.store.get_worker("w1")
    assert worker is not None and worker.status == "offline"
    assert "w1" not in server.queue.connected_workers()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WorkerHeartbeat(pb.WorkerHeartbeatRequest(session_token=session), metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "register" in (err.value.details() or "")

    # Registered again, the worker gets the task back; the dead attempt's result is stale.
    session = await register(stub, concurrency=1)
    stream = open_stream(stub, session)
    async with heartbeating(stub, session, [task_id]):
        [a2] = await stream.next(within=5)
        assert (a2.task_id, a2.attempt) == (task_id, 2)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ReportTaskResult(
                pb.ReportTaskResultRequest(session_token=session, results=[result(a)]),
                metadata=AUTH,
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        reply = await stub.ReportTaskResult(
            pb.ReportTaskResultRequest(session_token=session, results=[result(a2)]),
            metadata=AUTH,
        )
        assert [x.disposition for x in reply.acks] == [pb.RESULT_DISPOSITION_ACCEPTED]
    attempts = await server.state.store.task_attempts(task_id)
    assert [(x.attempt, str(x.outcome)) for x in attempts] == [(1, "lost"), (2, "completed")]
    await stream.close()


async def test_report_stream_answers_each_report_in_order(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    """Accepted, duplicate and unknown all come back as acks on the stream (the unary
    call would turn a batch of only unknown ones into NOT_FOUND)."""
    session = await register(stub)
    await submit(server, 2)
    stream = open_stream(stub, session)
    first, second = await stream.next()
    call = stub.ReportTaskResults(metadata=AUTH)
    missing = pb.TaskResult(task_id="nope", attempt=1, status=pb.RESULT_STATUS_COMPLETED)
    sent = [[result(first)], [result(first), result(second)], [missing]]
    replies = []
    for results in sent:
        await call.write(pb.ReportTaskResultRequest(session_token=session, results=results))
        replies.append(await asyncio.wait_for(call.read(), 5))
    assert [[(a.task_id, a.disposition) for a in r.acks] for r in replies] == [
        [(first.task_id, pb.RESULT_DISPOSITION_ACCEPTED)],
        [
            (first.task_id, pb.RESULT_DISPOSITION_DUPLICATE),
            (second.task_id, pb.RESULT_DISPOSITION_ACCEPTED),
        ],
        [("nope", pb.RESULT_DISPOSITION_UNKNOWN_TASK)],
    ]
    await call.done_writing()
    assert await asyncio.wait_for(call.code(), 5) == grpc.StatusCode.OK
    for a in (first, second):
        task = await server.state.store.get_task(a.task_id)
        assert task is not None and task.status == "completed"
    await stream.close()


@pytest.mark.parametrize(
    ("session_ok", "results", "code"),
    [
        (
            True,
            [pb.TaskResult(task_id="t", attempt=1, status=1, result=b"{no")],
            "INVALID_ARGUMENT",
        ),
        (True, [], "INVALID_ARGUMENT"),
        (False, [pb.TaskResult(task_id="t", attempt=1, status=1)], "UNAUTHENTICATED"),
    ],
)
async def test_report_stream_ends_with_the_unary_calls_status(
    stub: pb_grpc.WorkerServiceStub, session_ok: bool, results: list[pb.TaskResult], code: str
) -> None:
    session = await register(stub) if session_ok else "not-a-session"
    call = stub.ReportTaskResults(metadata=AUTH)
    await call.write(pb.ReportTaskResultRequest(session_token=session, results=results))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(call.read(), 5)
    assert err.value.code().name == code
