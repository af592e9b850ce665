"""The worker's HTTP side and dependency-aware capacity, with a real in-process server
and worker on loopback ports: /health, /readiness and /metrics say what they should,
and while the AI backend is unusable AI tasks stay queued instead of burning attempts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from englog.ai.builtin import BuiltinBackend
from englog.ai.sample import load_sample_week
from englog.domain.tasks import NewTask, TaskStatus
from englog.server.app import Server
from englog.server.state import ServerSettings
from englog.worker import Worker
from englog.worker.handlers import load_handlers
from englog.worker.settings import WorkerSettings
from tests.support.procs import eventually, stop_worker_run

TOKEN = "wt-health"


class SwitchableBackend(BuiltinBackend):
    """The builtin backend whose usability the test switches, as a breaker would."""

    name = "switchable"

    def __init__(self) -> None:
        super().__init__()
        self.ok = True
        self.calls = 0

    def usable(self) -> tuple[bool, str]:
        return (True, "") if self.ok else (False, "test circuit open")

    async def generate_insight(self, req: Any) -> Any:
        self.calls += 1
        return await super().generate_insight(req)


@dataclass
class Rig:
    server: Server
    worker: Worker
    backend: SwitchableBackend
    health: str


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    server = Server(
        ServerSettings(
            db_url=f"sqlite:///{tmp_path / 's.db'}",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=(TOKEN,),
            admin_token="adm",
            heartbeat_interval_s=0.2,
            lease_ttl_s=2.0,
            reap_interval_s=0.1,
        )
    )
    await server.start()
    assert server.addresses is not None
    backend = SwitchableBackend()
    worker = Worker(
        WorkerSettings(
            server=server.addresses.grpc,
            token=TOKEN,
            worker_id="wh",
            insecure=True,
            concurrency=2,
            health_listen="127.0.0.1:0",
            outbox=str(tmp_path / "outbox.db"),
            ai_watch_interval_s=0.05,
        ),
        load_handlers(None),
        backend=backend,  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: worker.health_port is not None, 15, what="health up")
        yield Rig(server, worker, backend, f"http://127.0.0.1:{worker.health_port}")
    finally:
        try:
            await stop_worker_run(stop, run)
        finally:
            await server.stop(grace_s=0.5)


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url)


async def submit_insight(server: Server) -> str:
    payload = {"insight_type": "productivity", "entries": load_sample_week()[:10]}
    [task] = await server.state.store.submit_tasks(
        [NewTask(type="insight_generation", payload=payload)], time.time()
    )
    server.dispatcher.notify()
    return task.id


async def test_health_readiness_and_metrics(rig: Rig) -> None:
    await eventually(lambda: rig.worker.stream_up)
    ready = await get(rig.health + "/readiness")
    assert ready.status_code == 200, ready.text
    health = (await get(rig.health + "/health")).json()
    server_dep = health["dependencies"]["server"]
    assert server_dep["connection"] == "ready" and server_dep["breaker"] == "closed"
    ai = health["dependencies"]["ai"]
    assert ai["backend"] == "switchable" and ai["usable"] is True
    assert ai["health"]["status"] == "healthy"  # asked of the backend, never a generation
    record = await rig.server.state.store.get_worker("wh")
    assert record is not None
    assert record.stats["dependencies"] == {
        "control_plane": "closed",
        "ai": "usable",
        "ai_health": "healthy",
    }
    assert health["dependencies"]["outbox"] == {"durable": True, "unacknowledged": 0}

    [task_id] = [
        t.id
        for t in await rig.server.state.store.submit_tasks(
            [NewTask(type="noop", payload={"x": 1})], time.time()
        )
    ]
    rig.server.dispatcher.notify()

    async def done() -> bool:
        task = await rig.server.state.store.get_task(task_id)
        return task is not None and task.status is TaskStatus.COMPLETED

    await eventually(done, 10, what="noop completed")
    await eventually(lambda: rig.worker.pending_results == 0)
    metrics = (await get(rig.health + "/metrics")).text
    for name in (
        'englog_worker_connection_state{state="ready"} 1.0',
        'englog_worker_breaker_state{breaker="control_plane",state="closed"} 1.0',
        'englog_worker_tasks_finished_total{outcome="completed",type="noop"} 1.0',
        "englog_worker_task_duration_seconds_bucket",
        "englog_worker_outbox_depth 0.0",
        'englog_worker_results_acknowledged_total{disposition="accepted"} 1.0',
        "englog_worker_stream_up 1.0",
        "process_resident_memory_bytes",
    ):
        assert name in metrics, name


async def test_ai_tasks_wait_while_the_backend_is_unusable(rig: Rig) -> None:
    await eventually(lambda: rig.worker.stream_up)
    rig.backend.ok = False
    await eventually(lambda: not rig.worker.ai_usable()[0])
    ready = await get(rig.health + "/readiness")
    assert ready.status_code == 503
    assert "test circuit open" in ready.json()["reason"]

    # The server must learn the zero capacity before the task arrives.
    async def capacity() -> dict[str, int]:
        record = await rig.server.state.store.get_worker("wh")
        assert record is not None
        return dict(record.capacity)

    async def paused() -> bool:
        return (await capacity()).get("insight_generation") == 0

    await eventually(paused, 10, what="zero AI capacity at the server")
    assert (await capacity())["noop"] == 2

    task_id = await submit_insight(rig.server)
    # Through several dispatch rounds (0.5 s polls, and the submit's own wake-up) it
    # must never be handed out.
    for _ in range(15):
        task = await rig.server.state.store.get_task(task_id)
        assert task is not None and task.status is TaskStatus.PENDING and task.attempt == 1
        await asyncio.sleep(0.05)
    assert rig.backend.calls == 0

    rig.backend.ok = True

    async def completed() -> Any:
        task = await rig.server.state.store.get_task(task_id)
        return task if task is not None and task.status is TaskStatus.COMPLETED else None

    task = await eventually(completed, 10, what="insight completed once usable")
    assert task.attempt == 1
    assert rig.backend.calls == 1
    assert (await get(rig.health + "/readiness")).status_code == 200
