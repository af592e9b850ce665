"""ConnectionManager against a real in-process server behind the fault-injecting proxy:
a black-holed connection looks READY to gRPC until keepalive gives up; the health check
notices first, the channel is replaced, and the worker registers again and works on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from englog.domain.tasks import NewTask, TaskStatus
from englog.server.app import Server
from englog.server.state import ServerSettings
from englog.worker import Worker
from englog.worker.handlers import load_handlers
from englog.worker.settings import WorkerSettings
from tests.support.procs import eventually, stop_worker_run
from tests.support.proxy import FaultProxy

TOKEN = "wt-conn"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    s = Server(
        ServerSettings(
            db_url=f"sqlite:///{tmp_path / 'c.db'}",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=(TOKEN,),
            heartbeat_interval_s=5.0,  # silence detection stays out of this test's way
            lease_ttl_s=30.0,
        )
    )
    await s.start()
    try:
        yield s
    finally:
        await s.stop(grace_s=0.5)


async def test_blackholed_connection_is_replaced_after_a_failed_health_check(
    server: Server,
) -> None:
    assert server.addresses is not None
    upstream_port = int(server.addresses.grpc.rsplit(":", 1)[1])
    proxy = await FaultProxy(upstream_port).start()
    worker = Worker(
        WorkerSettings(
            server=f"127.0.0.1:{proxy.port}",
            token=TOKEN,
            worker_id="wc",
            insecure=True,
            concurrency=2,
            health_check_interval_s=0.3,
            rpc_timeout_s=0.5,
        ),
        load_handlers(None),
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: worker.stream_up, 20, what="first stream")
        assert worker.conn.generation == 1
        proxy.blackhole(2.0)
        await eventually(lambda: worker.conn.health_failures >= 1, 20, what="failed health check")
        await eventually(lambda: worker.conn.generation >= 2, 20, what="a new connection")
        await eventually(
            lambda: worker.stream_up and worker.registrations >= 2, 20, what="re-registered"
        )
        assert worker.conn.stats().reconnects >= 1

        [task] = await server.state.store.submit_tasks(
            [NewTask(type="noop", payload={"after": "blackhole"})], time.time()
        )
        server.dispatcher.notify()

        async def completed() -> Any:
            done = await server.state.store.get_task(task.id)
            return done if done is not None and done.status is TaskStatus.COMPLETED else None

        done = await eventually(completed, 10, what="task after the blackhole")
        assert done.result == {"after": "blackhole"}
    finally:
        try:
            await stop_worker_run(stop, run)
        finally:
            await proxy.close()
