"""Workers cannot pose as each other (issue 22): each has its own credential bound to
its id; another credential cannot register as a live worker nor get a forged result
accepted, and refusals never name the worker holding a task. Both stores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from englog.domain.tasks import NewTask
from englog.domain.tokens import hash_token, new_token
from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.server.app import Server
from englog.server.state import ServerSettings
from tests.support.certs import make_pki
from tests.support.pg import create_database, drop_database
from tests.support.procs import eventually

SHARED = "shared-token"


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(params=["sqlite", "postgres"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'id.db'}"
    else:
        url = await create_database()
    s = Server(
        ServerSettings(
            db_url=url,
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=(SHARED,),
            admin_token="adm",
            heartbeat_interval_s=0.5,
            lease_ttl_s=30,
        )
    )
    await s.start()
    try:
        yield s
    finally:
        await s.stop(grace_s=0.5)
        if request.param == "postgres":
            await drop_database(url)


@pytest.fixture
async def stub(server: Server) -> AsyncIterator[pb_grpc.WorkerServiceStub]:
    assert server.addresses is not None
    async with grpc.aio.insecure_channel(server.addresses.grpc) as channel:
        yield pb_grpc.WorkerServiceStub(channel)


async def credential(server: Server, worker_id: str) -> str:
    token = new_token("wkr_")
    await server.state.store.create_worker_credential(worker_id, hash_token(token), time.time())
    return token


async def register(stub: pb_grpc.WorkerServiceStub, worker_id: str, token: str) -> str:
    reply = await stub.RegisterWorker(
        pb.RegisterWorkerRequest(worker_id=worker_id, capabilities=["noop"], max_concurrency=1),
        metadata=auth(token),
    )
    return str(reply.session_token)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_another_credential_cannot_register_as_a_live_worker(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    legit, rogue = await credential(server, "legit-1"), await credential(server, "rogue")
    await register(stub, "legit-1", legit)
    # Its own credential cannot register another id.
    error = await refused(register(stub, "legit-1", rogue))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "legit-1" not in (error.details() or "")
    # A shared token cannot take an id that has its own credential.
    error = await refused(register(stub, "legit-1", SHARED))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    # Nor can a shared-token worker's live id be taken by a worker's own credential
    # (that credential is bound elsewhere) -- and an unknown token is UNAUTHENTICATED.
    await register(stub, "scripted", SHARED)
    error = await refused(register(stub, "scripted", rogue))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    error = await refused(register(stub, "legit-1", "wkr_forged"))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    # The real worker restarting with its own credential is welcome.
    await register(stub, "legit-1", legit)


async def test_a_forged_result_is_refused_without_naming_the_holder(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    legit, rogue = await credential(server, "legit-1"), await credential(server, "rogue")
    legit_session = await register(stub, "legit-1", legit)
    rogue_session = await register(stub, "rogue", rogue)
    [task] = await server.state.store.submit_tasks([NewTask(type="noop", payload={})], time.time())
    server.dispatcher.notify()
    stream = stub.StreamTasks(
        pb.StreamTasksRequest(session_token=legit_session), metadata=auth(legit)
    )
    batch = await asyncio.wait_for(stream.read(), 10)
    assert [a.task_id for a in batch.assignments] == [task.id]
    forged = pb.TaskResult(
        task_id=task.id, attempt=1, status=pb.RESULT_STATUS_COMPLETED, result=b'{"forged":1}'
    )
    # From the rogue's own session: stale, and the detail names nobody.
    error = await refused(
        stub.ReportTaskResult(
            pb.ReportTaskResultRequest(session_token=rogue_session, results=[forged]),
            metadata=auth(rogue),
        )
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "legit" not in (error.details() or "")
    # With the legit session's token but the rogue's credential: as if unknown.
    error = await refused(
        stub.ReportTaskResult(
            pb.ReportTaskResultRequest(session_token=legit_session, results=[forged]),
            metadata=auth(rogue),
        )
    )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    # The shared token cannot use it either.
    error = await refused(
        stub.ReportTaskResult(
            pb.ReportTaskResultRequest(session_token=legit_session, results=[forged]),
            metadata=auth(SHARED),
        )
    )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    found = await server.state.store.get_task(task.id)
    assert found is not None and found.status == "running" and found.result is None
    # The real worker's result is accepted.
    real = pb.TaskResult(
        task_id=task.id, attempt=1, status=pb.RESULT_STATUS_COMPLETED, result=b'{"ok":1}'
    )
    reply = await stub.ReportTaskResult(
        pb.ReportTaskResultRequest(session_token=legit_session, results=[real]),
        metadata=auth(legit),
    )
    assert reply.acks[0].disposition == pb.RESULT_DISPOSITION_ACCEPTED
    stream.cancel()


async def test_a_revoked_credential_stops_working(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    token = await credential(server, "w-revoked")
    session = await register(stub, "w-revoked", token)
    assert await server.state.store.revoke_worker_credential("w-revoked", time.time())
    server.state.worker_auth.forget()
    server.state.sessions.clear()

    async def gone() -> bool:
        try:
            await stub.WorkerHeartbeat(
                pb.WorkerHeartbeatRequest(session_token=session, status="ready"),
                metadata=auth(token),
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code() is grpc.StatusCode.UNAUTHENTICATED
        return False

    await eventually(gone, within=10, what="the revoked credential refused")
    listed = await server.state.store.list_worker_credentials()
    assert [(c.worker_id, c.revoked_at is not None) for c in listed] == [("w-revoked", True)]


async def test_a_result_of_the_wrong_shape_fails_the_attempt_with_the_reason(
    server: Server, stub: pb_grpc.WorkerServiceStub
) -> None:
    session = await register(stub, "shaper", SHARED)
    [task] = await server.state.store.submit_tasks(
        [NewTask(type="noop", payload={}, max_attempts=1)], time.time()
    )
    server.dispatcher.notify()
    stream = stub.StreamTasks(pb.StreamTasksRequest(session_token=session), metadata=auth(SHARED))
    batch = await asyncio.wait_for(stream.read(), 10)
    assert [a.task_id for a in batch.assignments] == [task.id]
    wrong = pb.TaskResult(
        task_id=task.id, attempt=1, status=pb.RESULT_STATUS_COMPLETED, result=b"[1,2,3]"
    )
    reply = await stub.ReportTaskResult(
        pb.ReportTaskResultRequest(session_token=session, results=[wrong]), metadata=auth(SHARED)
    )
    assert reply.acks[0].disposition == pb.RESULT_DISPOSITION_ACCEPTED
    found = await server.state.store.get_task(task.id)
    assert found is not None and found.status == "failed" and found.result is None
    assert found.error is not None and "noop result schema" in found.error
    stream.cancel()


async def test_with_bound_certificates_a_worker_registers_only_as_its_certificate(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "pki", name="cert-bound")
    s = Server(
        ServerSettings(
            db_url=f"sqlite:///{tmp_path / 'mtls.db'}",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=(SHARED,),
            tls_cert=str(pki.server.cert),
            tls_key=str(pki.server.key),
            tls_ca=str(pki.ca),
            bind_worker_certs=True,
        )
    )
    await s.start()
    try:
        assert s.addresses is not None
        creds = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), pki.client.key.read_bytes(), pki.client.cert.read_bytes()
        )
        async with grpc.aio.secure_channel(s.addresses.grpc, creds) as channel:
            stub = pb_grpc.WorkerServiceStub(channel)
            assert await register(stub, "cert-bound-worker", SHARED)
            error = await refused(register(stub, "someone-else", SHARED))
            assert error.code() is grpc.StatusCode.PERMISSION_DENIED
            assert "certificate" in (error.details() or "")
    finally:
        await s.stop(grace_s=0.5)
    with pytest.raises(ValueError, match="tls-ca"):
        ServerSettings(bind_worker_certs=True)
