"""The worker's report stream (`englog.worker.report_stream`) against a real server:
reports ride one stream, and every way the stream can fail hands the report back to
the caller (the unary RPC) instead of raising."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.server.app import Server
from englog.worker.report_stream import ReportStream
from tests.integration.test_grpc_protocol import (  # noqa: F401 (fixtures)
    AUTH,
    open_stream,
    register,
    result,
    server,
    stub,
    submit,
)

pytestmark = pytest.mark.timeout(60)


def reports(client: pb_grpc.WorkerServiceStub, timeout_s: float = 5.0) -> ReportStream:
    return ReportStream(lambda: client.ReportTaskResults(metadata=AUTH), timeout_s)


async def test_reports_share_one_stream(
    server: Server,  # noqa: F811
    stub: pb_grpc.WorkerServiceStub,  # noqa: F811
) -> None:
    session = await register(stub, concurrency=3)
    await submit(server, 3)
    tasks = open_stream(stub, session)
    assignments = await tasks.next()
    rs = reports(stub)
    for a in assignments:
        reply = await rs.report(
            pb.ReportTaskResultRequest(session_token=session, results=[result(a)])
        )
        assert reply is not None and reply.acks[0].disposition == pb.RESULT_DISPOSITION_ACCEPTED
    assert (rs.opened, rs.fallbacks) == (1, 0)
    rs.close()
    await tasks.close()


async def test_a_stream_the_server_ends_hands_the_report_back_and_reopens(
    server: Server,  # noqa: F811
    stub: pb_grpc.WorkerServiceStub,  # noqa: F811
) -> None:
    session = await register(stub)
    [task_id] = await submit(server, 1)
    fallbacks: list[str] = []
    rs = ReportStream(lambda: stub.ReportTaskResults(metadata=AUTH), 5.0, fallbacks.append)
    lost = pb.ReportTaskResultRequest(
        session_token="gone", results=[pb.TaskResult(task_id=task_id, attempt=1, status=1)]
    )
    assert await rs.report(lost) is None
    assert fallbacks == ["UNAUTHENTICATED"] and not rs.is_open
    tasks = open_stream(stub, session)
    [a] = await tasks.next()
    reply = await rs.report(pb.ReportTaskResultRequest(session_token=session, results=[result(a)]))
    assert reply is not None and reply.acks[0].disposition == pb.RESULT_DISPOSITION_ACCEPTED
    assert rs.opened == 2
    rs.close()
    await tasks.close()


async def test_a_closed_channel_hands_the_report_back(
    server: Server,  # noqa: F811
) -> None:
    assert server.addresses is not None
    channel = grpc.aio.insecure_channel(server.addresses.grpc)
    stub_ = pb_grpc.WorkerServiceStub(channel)
    session = await register(stub_)
    rs = reports(stub_)
    ping = pb.ReportTaskResultRequest(
        session_token=session, results=[pb.TaskResult(task_id="x", attempt=1, status=1)]
    )
    assert await rs.report(ping) is not None  # unknown task: an ack, the stream stays
    await channel.close()
    assert await rs.report(ping) is None
    assert rs.fallbacks == 1


@pytest.fixture
async def old_server() -> AsyncIterator[str]:
    """A server without ReportTaskResults (the generated base answers UNIMPLEMENTED)."""
    srv = grpc.aio.server()
    pb_grpc.add_WorkerServiceServicer_to_server(pb_grpc.WorkerServiceServicer(), srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await srv.stop(0)


async def test_a_server_without_the_rpc_means_unary_from_then_on(old_server: str) -> None:
    async with grpc.aio.insecure_channel(old_server) as channel:
        rs = reports(pb_grpc.WorkerServiceStub(channel))
        request = pb.ReportTaskResultRequest(session_token="s")
        assert await rs.report(request) is None
        assert rs.unsupported and rs.opened == 1
        assert await rs.report(request) is None
        assert rs.opened == 1  # never tried again


async def test_a_reply_later_than_the_timeout_hands_the_report_back() -> None:
    """A server that takes the stream but never answers."""

    class Silent(pb_grpc.WorkerServiceServicer):
        async def ReportTaskResults(self, requests, context):  # type: ignore[no-untyped-def]
            async for _ in requests:
                await asyncio.sleep(30)
            yield pb.ReportTaskResultResponse()

    srv = grpc.aio.server()
    pb_grpc.add_WorkerServiceServicer_to_server(Silent(), srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            rs = reports(pb_grpc.WorkerServiceStub(channel), timeout_s=0.3)
            assert await rs.report(pb.ReportTaskResultRequest(session_token="s")) is None
            assert rs.fallbacks == 1 and not rs.is_open and not rs.unsupported
    finally:
        await srv.stop(0)
