"""ConnectionManager against a real in-process server behind the fault-injecting proxy:
a black-holed connection looks READY to gRPC until keepalive gives up; the health check
notices first, the channel is replaced, and the worker registers again and works on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from englog.domain.tasks import NewTask, TaskStatus
from englog.server.app import Server
from englog.server.state import ServerSettings
from englog.worker.client import Worker
from englog.worker.handlers import load_handlers
from englog.worker.settings import WorkerSettings
from tests.support.proxy import FaultProxy

TOKEN = "wt-conn"


async def until(predicate: Callable[[], bool], within_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within_s}s: {what or predicate}")
        await asyncio.sleep(0.02)


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
        await until(lambda: worker.stream_up, what="first stream")
        assert worker.conn.generation == 1
        proxy.blackhole(2.0)
        await until(lambda: worker.conn.health_failures >= 1, what="failed health check")
        await until(lambda: worker.conn.generation >= 2, what="a new connection")
        await until(lambda: worker.stream_up and worker.registrations >= 2, what="re-registered")
        assert worker.conn.stats().reconnects >= 1

        [task] = await server.state.store.submit_tasks(
            [NewTask(type="noop", payload={"after": "blackhole"})], time.time()
        )
        server.state.notify_tasks()
        for _ in range(500):
            done = await server.state.store.get_task(task.id)
            if done is not None and done.status is TaskStatus.COMPLETED:
                break
            await asyncio.sleep(0.02)
        assert done is not None and done.status is TaskStatus.COMPLETED
        assert done.result == {"after": "blackhole"}
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run, 20)
        await proxy.close()
