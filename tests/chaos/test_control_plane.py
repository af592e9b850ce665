"""The control plane misbehaving in the ways the seed's checklist names: an overloaded
server (RESOURCE_EXHAUSTED / UNAVAILABLE), a refused token, a server name that does
not resolve. The worker must neither crash nor hammer the server, and must recover by
itself once the cause is gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client import generate_latest

from englog.protocol import worker_pb2 as pb
from englog.protocol import worker_pb2_grpc as pb_grpc
from englog.resilience.breaker import BreakerPolicy, BreakerState
from englog.worker import Worker
from englog.worker.handlers import load_handlers
from englog.worker.settings import WorkerSettings
from tests.support.procs import (
    Proc,
    base_env,
    cluster,
    englog_cmd,
    eventually,
    health_port,
    stop_worker_run,
    wait_for,
)


class OverloadedServer(pb_grpc.WorkerServiceServicer):
    """Refuses the first `failures` registrations as overloaded, then behaves."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.registrations: list[float] = []
        self.heartbeats = 0

    async def RegisterWorker(
        self, request: pb.RegisterWorkerRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterWorkerResponse:
        self.registrations.append(time.monotonic())
        if len(self.registrations) <= self.failures:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "overloaded, try later")
        return pb.RegisterWorkerResponse(session_token="s" * 24, heartbeat_interval_s=0.1)

    async def WorkerHeartbeat(
        self, request: pb.WorkerHeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> pb.WorkerHeartbeatResponse:
        self.heartbeats += 1
        return pb.WorkerHeartbeatResponse()

    async def StreamTasks(
        self, request: pb.StreamTasksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TaskAssignmentBatch]:
        await context.send_initial_metadata((("englog-stream", "open"),))
        await asyncio.Event().wait()  # an idle queue
        yield pb.TaskAssignmentBatch()  # pragma: no cover


async def test_overloaded_server_opens_the_breaker_which_recovers_by_itself() -> None:
    fake = OverloadedServer(failures=5)
    server = grpc.aio.server()
    pb_grpc.add_WorkerServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    open_s = 0.5
    worker = Worker(
        WorkerSettings(
            server=f"127.0.0.1:{port}",
            token="t",
            worker_id="w-overload",
            insecure=True,
            breaker=BreakerPolicy(open_timeout_s=open_s),
        ),
        load_handlers(None),
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: worker.stream_up, 20, what="registered after the overload")
        await eventually(
            lambda: worker.breaker.state is BreakerState.CLOSED, 20, what="breaker closed"
        )
        stats = worker.breaker.stats()
        assert stats.transitions == {
            "closed->open": 1,
            "open->half_open": 1,
            "half_open->closed": 1,
        }
        # Five refusals, then no call at all while open: the sixth came after the timeout.
        assert len(fake.registrations) == 6
        assert fake.registrations[5] - fake.registrations[4] >= open_s * 0.9
        metrics = generate_latest(worker.metrics.registry).decode()
        assert (
            'englog_worker_breaker_transitions_total{breaker="control_plane",'
            'from_state="closed",to_state="open"} 1.0'
        ) in metrics
        assert 'englog_worker_breaker_state{breaker="control_plane",state="closed"} 1.0' in metrics
    finally:
        try:
            await stop_worker_run(stop, run)
        finally:
            await server.stop(None)


def test_refused_token_keeps_the_worker_alive_and_not_ready(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        assert c.start_server() is c.server
        args = englog_cmd(
            "worker", "--server", c.server.grpc_target, "--worker-id", "w-bad",
            "--health-listen", "127.0.0.1:0",
        )  # fmt: skip
        env = base_env(ENGLOG_WORKER_TOKEN="not-the-token")
        worker = Proc(args, env, tmp_path / "worker-bad.log").start()
        c.workers["w-bad"] = worker  # stopped with the cluster
        health = health_port(worker)

        def refused() -> bool:
            r = httpx.get(f"http://127.0.0.1:{health}/readiness", timeout=2)
            return r.status_code == 503 and r.json()["reason"] == (
                "server refused the worker token (UNAUTHENTICATED): check ENGLOG_WORKER_TOKEN"
            )

        # Connected, but the server refuses the token: not registered, it stays so, and
        # readiness says why.
        wait_for(refused, 20, what="connected but refused, and readiness says why")
        wait_for(lambda: "server_refused_worker" in worker.log(), 20, what="a logged refusal")
        assert worker.alive
        assert worker.terminate(timeout=20) == 0
        assert "Traceback" not in worker.log()


@pytest.mark.timeout(60)
def test_unresolvable_server_name_is_retried_without_crashing(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        worker = c.start_worker(
            "w-dns",
            "--server",
            "no-such-host.invalid:50051",
            "--health-listen",
            "127.0.0.1:0",
        )
        health = health_port(worker)

        def health_json() -> dict | None:
            r = httpx.get(f"http://127.0.0.1:{health}/health", timeout=2)
            return r.json() if r.status_code == 200 else None

        body = wait_for(health_json, 20, what="worker health up")
        assert body["dependencies"]["server"]["registered"] is False
        wait_for(
            lambda: (
                health_json()["dependencies"]["server"]["connection"]  # type: ignore[index]
                in ("transient_failure", "connecting", "idle")
            ),
            10,
            what="connection reported down",
        )
        r = httpx.get(f"http://127.0.0.1:{health}/readiness", timeout=2)
        assert r.status_code == 503 and "not connected" in r.json()["reason"]
        assert worker.alive
        assert worker.terminate(timeout=20) == 0
        assert "Traceback" not in worker.log()
