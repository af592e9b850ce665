"""The worker service under property-based fuzzing (hypothesis) against a real server
process, on SQLite and on PostgreSQL: random and malformed fields, undecodable
messages, wrong worker tokens and sessions, results and progress for tasks the caller
does not hold, duplicate streams.

Every call ends with OK or a status that names the problem (never UNKNOWN or
INTERNAL; bytes that are not the message at all are INVALID_ARGUMENT "malformed ..."),
nothing a caller does not hold changes, and the server keeps serving: its health check,
the REST views of what the fuzzing touched, and a log free of tracebacks. Examples are
bounded (deadline off, a few dozen each) so the module runs in well under a minute per store."""

from __future__ import annotations

import contextlib
import json
import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.server.grpc_service import registration_problem
from tests.support.pg import throwaway_database
from tests.support.procs import WORKER_TOKEN, Cluster, cluster, wait_for

AUTH = (("authorization", f"Bearer {WORKER_TOKEN}"),)
CALL_TIMEOUT_S = 10.0
# Worker ids this module uses for its own fixtures; fuzzed registrations avoid them.
RESERVED = "fuzz-"

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
    # Shrinking replays examples against a server whose state they changed: slow, and
    # the first failing example is the useful one.
    phases=[Phase.explicit, Phase.generate],
    print_blob=True,
)

# Strings as protobuf carries them: any Unicode scalar value (NUL included, no lone
# surrogates, which protobuf cannot encode).
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
long_texts = st.one_of(texts, st.text(max_size=5000, alphabet="xyz\x00é"))
int32s = st.integers(-(2**31), 2**31 - 1)
int64s = st.integers(-(2**63), 2**63 - 1)
doubles = st.floats(allow_nan=True, allow_infinity=True)
json_bytes = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | doubles | texts,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"NaN", b"[Infinity]", b"1e999", b"[" * 5000 + b"]" * 5000, b"\xff\xfe"]),
)
statuses = st.sampled_from([*pb.ResultStatus.values(), 7, -1])

# A named problem: the detail says what is wrong, and the code is one a client acts on.
NAMED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}


@dataclass
class Fuzzed:
    """One server process with a worker (`holder`) that holds RUNNING tasks on an open
    stream, and a second registered worker (`intruder`) that holds none of them."""

    store: str
    cluster: Cluster
    channel: grpc.Channel
    stub: pb_grpc.WorkerServiceStub
    holder: str = ""
    intruder: str = ""
    held: list[pb.TaskAssignment] = field(default_factory=list)
    inbox: queue.Queue[pb.TaskAssignment] = field(default_factory=queue.Queue)

    def rest(self) -> httpx.Client:
        return self.cluster.admin()

    def submit(self, n: int, type_: str = "noop") -> list[str]:
        with self.rest() as c:
            body = {"tasks": [{"type": type_, "payload": {"i": i}} for i in range(n)]}
            r = c.post("/v1/tasks/batch", json=body)
            assert r.status_code == 202, r.text
            return [t["task_id"] for t in r.json()["tasks"]]

    def take(self, n: int) -> list[pb.TaskAssignment]:
        """The next `n` assignments on the holder's stream."""
        return [self.inbox.get(timeout=CALL_TIMEOUT_S) for _ in range(n)]

    def task(self, task_id: str) -> dict[str, Any]:
        with self.rest() as c:
            r = c.get(f"/v1/tasks/{task_id}")
            assert r.status_code == 200, r.text
            return dict(r.json())


def register(
    stub: pb_grpc.WorkerServiceStub,
    worker_id: str,
    concurrency: int = 64,
    capabilities: tuple[str, ...] = ("noop", "sleep"),
) -> str:
    reply = stub.RegisterWorker(
        pb.RegisterWorkerRequest(
            worker_id=worker_id, capabilities=capabilities, max_concurrency=concurrency
        ),
        metadata=AUTH,
        timeout=CALL_TIMEOUT_S,
    )
    return str(reply.session_token)


def _read_stream(call: Any, inbox: queue.Queue[pb.TaskAssignment]) -> None:
    with contextlib.suppress(grpc.RpcError):
        for batch in call:
            for item in batch.assignments:
                inbox.put(item)


@contextlib.contextmanager
def stream(stub: pb_grpc.WorkerServiceStub, session: str, inbox: queue.Queue[Any]) -> Iterator[Any]:
    """StreamTasks read in a thread into `inbox`; cancelled on exit."""
    call = stub.StreamTasks(
        pb.StreamTasksRequest(session_token=session), metadata=AUTH, timeout=600
    )
    reader = threading.Thread(target=_read_stream, args=(call, inbox), daemon=True)
    reader.start()
    try:
        yield call
    finally:
        call.cancel()
        reader.join(CALL_TIMEOUT_S)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    tmp = tmp_path_factory.mktemp(f"grpc-fuzz-{request.param}")
    with contextlib.ExitStack() as stack:
        db_url = ""
        if request.param == "postgres":
            db_url = stack.enter_context(throwaway_database("englog_fuzz"))
        # Leases and heartbeats far longer than the module: nothing expires under it.
        c = stack.enter_context(cluster(tmp, db_url=db_url, lease_ttl=600.0, heartbeat=60.0))
        c.start_server()
        assert c.server is not None
        channel = stack.enter_context(grpc.insecure_channel(c.server.grpc_target))
        stub = pb_grpc.WorkerServiceStub(channel)
        f = Fuzzed(request.param, c, channel, stub)
        f.holder = register(stub, f"{RESERVED}holder")
        f.intruder = register(stub, f"{RESERVED}intruder")
        stack.enter_context(stream(stub, f.holder, f.inbox))
        f.submit(8)
        f.held = f.take(8)
        yield f
        assert_still_serving(f)


def assert_still_serving(f: Fuzzed) -> None:
    reply = f.stub.HealthCheck(pb.HealthCheckRequest(), metadata=AUTH, timeout=CALL_TIMEOUT_S)
    assert reply.status == "SERVING"
    with f.rest() as c:
        assert c.get("/readiness").status_code == 200
        r = c.get("/v1/workers")
        assert r.status_code == 200, r.text
    assert f.cluster.server is not None
    log = f.cluster.server.log()
    assert "Traceback" not in log, log[-4000:]


def outcome(fn: Callable[..., Any], request: Any, metadata: Any = AUTH) -> Any:
    """The reply, or the RpcError; a status must name its problem."""
    try:
        return fn(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
        assert code in NAMED, f"{code}: {details}"
        assert details.strip(), f"{code} without a detail"
        return exc


def nul(*values: Any) -> bool:
    """Whether any string in `values` holds NUL: PostgreSQL cannot keep one, so the
    server refuses such a request as INVALID_ARGUMENT "... contains NUL" on every store
    (rather than failing in the store as an outage a worker would retry forever)."""
    shown = repr(values) + "".join(str(v) for v in values if isinstance(v, Message))
    return any(mark in shown for mark in ("\\x00", "\\000", "u0000"))


def refused_for_nul(reply: Any) -> bool:
    return failed(reply, grpc.StatusCode.INVALID_ARGUMENT) and "NUL" in reply.details()


def failed(reply: Any, *codes: grpc.StatusCode) -> bool:
    return isinstance(reply, grpc.RpcError) and reply.code() in codes


# --- registration and heartbeats with any fields -----------------------------------


@FUZZ
@given(
    worker_id=long_texts,
    name=texts,
    capabilities=st.lists(texts, max_size=5),
    version=texts,
    metadata=st.dictionaries(texts, texts, max_size=3),
    concurrency=int32s,
)
def test_register_with_any_fields(
    fuzzed: Fuzzed,
    worker_id: str,
    name: str,
    capabilities: list[str],
    version: str,
    metadata: dict[str, str],
    concurrency: int,
) -> None:
    assume(not worker_id.startswith(RESERVED))
    request = pb.RegisterWorkerRequest(
        worker_id=worker_id,
        name=name,
        capabilities=capabilities,
        version=version,
        metadata=metadata,
        max_concurrency=concurrency,
    )
    reply = outcome(fuzzed.stub.RegisterWorker, request)
    if nul(worker_id, name, capabilities, version, metadata):
        assert refused_for_nul(reply), reply
        return
    # Bounded (issue 22): id, name, version, capabilities, metadata, concurrency.
    valid = registration_problem(request) is None
    if bool(worker_id.strip()) and concurrency >= 1 and bool(capabilities):
        assert valid == (
            len(worker_id) <= 128
            and worker_id.isprintable()
            and len(name) <= 200
            and len(version) <= 64
            and concurrency <= 1024
            and all(1 <= len(c) <= 100 for c in capabilities)
            and all(len(k) <= 64 and len(v) <= 1024 for k, v in metadata.items())
        )
    if not valid:
        assert failed(reply, grpc.StatusCode.INVALID_ARGUMENT)
        return
    assert not isinstance(reply, grpc.RpcError), reply
    beat = pb.WorkerHeartbeatRequest(session_token=reply.session_token, status="ready")
    assert not isinstance(outcome(fuzzed.stub.WorkerHeartbeat, beat), grpc.RpcError)


@FUZZ
@given(
    own_session=st.booleans(),
    session=texts,
    status=texts,
    stats=st.builds(
        pb.WorkerStats,
        active_tasks=int32s,
        completed_tasks=int64s,
        failed_tasks=int64s,
        cpu_percent=doubles,
        memory_bytes=int64s,
        uptime_s=doubles,
        connection_status=texts,
        dependencies=st.dictionaries(texts, texts, max_size=3),
    ),
    capacity=st.dictionaries(texts, int32s, max_size=4),
    active=st.lists(texts, max_size=5),
)
@example(  # stats a real worker could send (psutil gives NaN on some systems)
    own_session=True,
    session="",
    status="ready",
    stats=pb.WorkerStats(cpu_percent=float("nan"), uptime_s=float("inf")),
    capacity={},
    active=[],
)
def test_heartbeat_with_any_fields(
    fuzzed: Fuzzed,
    own_session: bool,
    session: str,
    status: str,
    stats: pb.WorkerStats,
    capacity: dict[str, int],
    active: list[str],
) -> None:
    """A worker's own heartbeat with any stats, capacity and task ids is taken (they
    describe only itself); any other session is told to register again. Either way the
    REST worker listing still renders what was stored."""
    if own_session:
        session = register(fuzzed.stub, f"{RESERVED}beating")
    request = pb.WorkerHeartbeatRequest(
        session_token=session,
        status=status,
        stats=stats,
        capacity=capacity,
        active_task_ids=active,
    )
    reply = outcome(fuzzed.stub.WorkerHeartbeat, request)
    if nul(session, status, stats, capacity, active):
        assert refused_for_nul(reply) or failed(reply, grpc.StatusCode.UNAUTHENTICATED), reply
    elif own_session and not all(map(math.isfinite, (stats.cpu_percent, stats.uptime_s))):
        # Stats are informational: kept (a non-finite number as null) or refused by name.
        assert not isinstance(reply, grpc.RpcError) or "stats" in reply.details(), reply
    elif own_session:
        assert not isinstance(reply, grpc.RpcError), reply
    else:
        assert failed(reply, grpc.StatusCode.UNAUTHENTICATED)
    with fuzzed.rest() as c:
        r = c.get("/v1/workers")
        assert r.status_code == 200, r.text


# --- tasks the caller does not hold --------------------------------------------------


@FUZZ
@given(
    index=st.integers(0, 7),
    attempt=int32s,
    status=statuses,
    result=json_bytes,
    error=texts,
    retriable=st.booleans(),
    as_holder_with_wrong_attempt=st.booleans(),
)
def test_results_for_tasks_the_caller_does_not_hold_change_nothing(
    fuzzed: Fuzzed,
    index: int,
    attempt: int,
    status: int,
    result: bytes,
    error: str,
    retriable: bool,
    as_holder_with_wrong_attempt: bool,
) -> None:
    """Another worker's result for a held task (any attempt), or the holder's own for
    an attempt it does not run, is refused or acknowledged as stale; the task stays
    RUNNING on its holder."""
    held = fuzzed.held[index]
    session = fuzzed.intruder
    if as_holder_with_wrong_attempt:
        assume(attempt != held.attempt)
        session = fuzzed.holder
    item = pb.TaskResult(
        task_id=held.task_id,
        attempt=attempt,
        status=status,
        result=result,
        error=error,
        retriable=retriable,
    )
    request = pb.ReportTaskResultRequest(session_token=session, results=[item])
    reply = outcome(fuzzed.stub.ReportTaskResult, request)
    if not isinstance(reply, grpc.RpcError):
        dispositions = {a.disposition for a in reply.acks}
        assert dispositions <= {
            pb.RESULT_DISPOSITION_STALE,
            pb.RESULT_DISPOSITION_UNKNOWN_TASK,
        }, reply
    task = fuzzed.task(held.task_id)
    assert (task["status"], task["worker_id"], task["attempt"]) == (
        "running",
        f"{RESERVED}holder",
        held.attempt,
    )


@FUZZ
@given(
    index=st.integers(0, 7),
    attempt=int32s,
    percent=doubles,
    message=texts,
)
def test_progress_for_tasks_the_caller_does_not_hold_is_not_accepted(
    fuzzed: Fuzzed, index: int, attempt: int, percent: float, message: str
) -> None:
    held = fuzzed.held[index]
    request = pb.UpdateTaskProgressRequest(
        session_token=fuzzed.intruder,
        task_id=held.task_id,
        attempt=attempt,
        percent=percent,
        message=message,
    )
    reply = outcome(fuzzed.stub.UpdateTaskProgress, request)
    if not 0 <= percent <= 100 or nul(message):
        assert failed(reply, grpc.StatusCode.INVALID_ARGUMENT)
    else:
        assert not isinstance(reply, grpc.RpcError) and not reply.accepted
    assert fuzzed.task(held.task_id)["progress"] == 0


@FUZZ
@given(task_id=texts, attempt=int32s, percent=st.floats(0, 100), message=texts)
def test_progress_for_unknown_tasks_is_not_found(
    fuzzed: Fuzzed, task_id: str, attempt: int, percent: float, message: str
) -> None:
    assume(task_id not in {h.task_id for h in fuzzed.held})
    request = pb.UpdateTaskProgressRequest(
        session_token=fuzzed.holder,
        task_id=task_id,
        attempt=attempt,
        percent=percent,
        message=message,
    )
    reply = outcome(fuzzed.stub.UpdateTaskProgress, request)
    if nul(task_id, message):
        assert refused_for_nul(reply), reply
    else:
        assert failed(reply, grpc.StatusCode.NOT_FOUND)


# --- the holder's own results, with any content --------------------------------------


@FUZZ
@given(status=statuses, result=json_bytes, error=long_texts, retriable=st.booleans())
def test_the_holders_results_with_any_content(
    fuzzed: Fuzzed, status: int, result: bytes, error: str, retriable: bool
) -> None:
    """A result is accepted, or refused as malformed with the reason; either way the
    task reads back over REST (a result the server took must be one it can show)."""
    fuzzed.submit(1)
    [task] = fuzzed.take(1)
    item = pb.TaskResult(
        task_id=task.task_id,
        attempt=task.attempt,
        status=status,
        result=result,
        error=error,
        retriable=retriable,
    )
    request = pb.ReportTaskResultRequest(session_token=fuzzed.holder, results=[item])
    reply = outcome(fuzzed.stub.ReportTaskResult, request)
    if isinstance(reply, grpc.RpcError):
        assert reply.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert fuzzed.task(task.task_id)["status"] == "running"
        # Not left running for the rest of the module: the holder ends it properly.
        done = pb.TaskResult(task_id=task.task_id, attempt=task.attempt, status=1, result=b"{}")
        ok = pb.ReportTaskResultRequest(session_token=fuzzed.holder, results=[done])
        assert not isinstance(outcome(fuzzed.stub.ReportTaskResult, ok), grpc.RpcError)
    else:
        assert [a.disposition for a in reply.acks] == [pb.RESULT_DISPOSITION_ACCEPTED]
    # The reported attempt has ended. (Not "the task is not running": a retriable failure
    # queues attempt 2 after a jittered backoff that may be near 0 s, and the holder's
    # stream may take it at once.)
    after = fuzzed.task(task.task_id)
    ended = [a for a in after["attempts"] if a["attempt"] == task.attempt]
    assert ended and ended[0]["outcome"] is not None, after
    assert after["status"] != "running" or after["attempt"] > task.attempt, after


# --- wrong credentials and undecodable messages ----------------------------------------

_METHODS = {
    "RegisterWorker": (pb.RegisterWorkerRequest, pb.RegisterWorkerResponse, "unary"),
    "WorkerHeartbeat": (pb.WorkerHeartbeatRequest, pb.WorkerHeartbeatResponse, "unary"),
    "UpdateTaskProgress": (pb.UpdateTaskProgressRequest, pb.UpdateTaskProgressResponse, "unary"),
    "ReportTaskResult": (pb.ReportTaskResultRequest, pb.ReportTaskResultResponse, "unary"),
    "HealthCheck": (pb.HealthCheckRequest, pb.HealthCheckResponse, "unary"),
    "StreamTasks": (pb.StreamTasksRequest, pb.TaskAssignmentBatch, "stream"),
}


def raw_call(
    channel: grpc.Channel, method: str, body: bytes, metadata: Any
) -> grpc.RpcError | None:
    """`body` sent as the request message, byte for byte."""
    path = f"/englog.v1.WorkerService/{method}"
    kind = _METHODS[method][2]
    try:
        if kind == "unary":
            channel.unary_unary(path)(body, metadata=metadata, timeout=CALL_TIMEOUT_S)
        else:
            for _ in channel.unary_stream(path)(body, metadata=metadata, timeout=2.0):
                pass
    except grpc.RpcError as exc:
        return exc
    return None


def assert_malformed(error: grpc.RpcError, method: str) -> None:
    message_type = _METHODS[method][0].DESCRIPTOR.name
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert (error.details() or "").startswith(f"malformed {message_type}: "), error.details()


def _parses(method: str, body: bytes) -> bool:
    try:
        _METHODS[method][0].FromString(body)
    except Exception:
        return False
    return True


@FUZZ
@given(
    method=st.sampled_from(sorted(_METHODS)),
    body=st.binary(max_size=300),
    token=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126))),
)
def test_wrong_worker_tokens_are_unauthenticated_whatever_the_message(
    fuzzed: Fuzzed, method: str, body: bytes, token: str | None
) -> None:
    assume(token != f"Bearer {WORKER_TOKEN}")
    metadata = () if token is None else (("authorization", token),)
    error = raw_call(fuzzed.channel, method, body, metadata)
    assert error is not None
    # Authentication comes first (issue 22): the message is not even read.
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED, error.details()


@FUZZ
@given(method=st.sampled_from(sorted(_METHODS)), body=st.binary(max_size=300))
def test_undecodable_or_random_messages_get_a_named_status(
    fuzzed: Fuzzed, method: str, body: bytes
) -> None:
    """With the right worker token, random bytes are either no message (INVALID_ARGUMENT
    naming the message type) or a message with random fields: a named status, or OK for
    the calls whose random fields can be valid (a health check, a registration)."""
    error = raw_call(fuzzed.channel, method, body, AUTH)
    if error is None:
        assert method in {"HealthCheck", "RegisterWorker"}
        if method == "RegisterWorker":
            assert not pb.RegisterWorkerRequest.FromString(body).worker_id.startswith(RESERVED)
        return
    if not _parses(method, body):
        assert_malformed(error, method)
    else:
        assert error.code() in NAMED, f"{error.code()}: {error.details()}"
        assert (error.details() or "").strip()


# --- duplicate streams -------------------------------------------------------------


def test_a_second_stream_of_one_session_replaces_the_first(fuzzed: Fuzzed) -> None:
    """Two StreamTasks calls on one session: the older one ends, and every task is
    delivered once, on the newer stream."""
    session = register(fuzzed.stub, f"{RESERVED}twice", 8, capabilities=("fuzz_twice",))
    first: queue.Queue[pb.TaskAssignment] = queue.Queue()
    second: queue.Queue[pb.TaskAssignment] = queue.Queue()
    with stream(fuzzed.stub, session, first) as call_1:
        wait_for(lambda: call_1.initial_metadata() is not None, 10, what="first stream open")
        with stream(fuzzed.stub, session, second) as call_2:
            wait_for(lambda: call_2.initial_metadata() is not None, 10, what="second stream")
            wait_for(lambda: call_1.done(), 10, what="the first stream ended by the server")
            assert call_1.code() is grpc.StatusCode.OK
            ids = set(fuzzed.submit(4, "fuzz_twice"))  # a type only this worker runs
            got = {second.get(timeout=CALL_TIMEOUT_S).task_id for _ in range(4)}
            assert got <= ids
            assert first.empty()
            for task_id in got:
                assert fuzzed.task(task_id)["worker_id"] == f"{RESERVED}twice"
            results = [
                pb.TaskResult(task_id=t, attempt=1, status=pb.RESULT_STATUS_COMPLETED) for t in got
            ]
            reply = fuzzed.stub.ReportTaskResult(
                pb.ReportTaskResultRequest(session_token=session, results=results),
                metadata=AUTH,
                timeout=CALL_TIMEOUT_S,
            )
            assert {a.disposition for a in reply.acks} == {pb.RESULT_DISPOSITION_ACCEPTED}
    assert_still_serving(fuzzed)
