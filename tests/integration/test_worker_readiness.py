"""A worker is ready only for the work it can do (issue 15 §1), with a real in-process
server, real workers and the fake Ollama on loopback: a worker whose model is missing
advertises no AI capacity and says why in /readiness while a healthy worker runs the
AI tasks; it becomes ready by itself once the model is pulled; `--ai-fallback degrade`
keeps it serving (degraded); a refused token is named in /readiness."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from englog.ai.backend import make_backend
from englog.ai.sample import load_sample_week
from englog.domain.tasks import NewTask, TaskStatus
from englog.server.app import Server
from englog.server.state import ServerSettings
from englog.worker import Worker, WorkerSettings, load_handlers
from tests.support.fake_ollama import FakeOllama, delay
from tests.support.procs import eventually, stop_worker_run

pytestmark = pytest.mark.timeout(90)

TOKEN = "wt-ready"
PRESENT = "present-model:1b"
MISSING = "missing-model:7b"


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    fake = FakeOllama(models=[PRESENT]).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
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
    try:
        yield server
    finally:
        await server.stop(grace_s=0.5)


@pytest.fixture
async def start_worker(server: Server, fake: FakeOllama) -> AsyncIterator[Callable[..., Any]]:
    runs: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(worker_id: str, model: str, **overrides: Any) -> Worker:
        assert server.addresses is not None
        settings = WorkerSettings(
            **{
                "server": server.addresses.grpc,
                "token": TOKEN,
                "worker_id": worker_id,
                "insecure": True,
                "concurrency": 2,
                "health_listen": "127.0.0.1:0",
                "ai": "ollama",
                "ollama_url": fake.url,
                "model": model,
                "ai_watch_interval_s": 0.05,
                "ai_health_interval_s": 0.2,
                **overrides,
            }
        )
        worker = Worker(settings, load_handlers(None), backend=make_backend(settings.ai_config()))
        stop = asyncio.Event()
        runs.append((stop, asyncio.create_task(worker.run(stop))))
        await eventually(lambda: worker.health_port is not None, 15, what="health up")
        return worker

    yield start
    for stop, _ in runs:
        stop.set()
    for stop, run in runs:
        await stop_worker_run(stop, run)


async def readiness(worker: Worker) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(f"http://127.0.0.1:{worker.health_port}/readiness")


async def submit_insights(server: Server, n: int, max_attempts: int = 3) -> list[str]:
    payload = {"insight_type": "productivity", "entries": load_sample_week()[:10]}
    new = NewTask(type="insight_generation", payload=payload, max_attempts=max_attempts)
    tasks = await server.state.store.submit_tasks([new] * n, time.time())
    server.dispatcher.notify()
    return [t.id for t in tasks]


async def capacity(server: Server, worker_id: str) -> dict[str, int]:
    record = await server.state.store.get_worker(worker_id)
    return dict(record.capacity) if record is not None else {}


async def test_a_missing_model_means_no_ai_work_until_it_is_pulled(
    server: Server, fake: FakeOllama, start_worker: Callable[..., Any]
) -> None:
    lacking = await start_worker("lacking", MISSING)
    await eventually(lambda: lacking.stream_up, 15, what="lacking worker streaming")

    async def not_ready_for_ai() -> httpx.Response | None:
        r = await readiness(lacking)
        return r if "insight_generation" in r.json()["not_ready_for"] else None

    ready = await eventually(not_ready_for_ai, 10, what="readiness names the AI types")
    body = ready.json()
    assert ready.status_code == 503
    assert body["status"] == "partial"
    assert f"ollama pull {MISSING}" in body["reason"]
    assert "noop" in body["ready_for"]
    assert f"ollama pull {MISSING}" in body["not_ready_for"]["insight_generation"]

    async def paused() -> bool:
        caps = await capacity(server, "lacking")
        return caps.get("insight_generation") == 0 and caps.get("noop") == 2

    await eventually(paused, 10, what="zero AI capacity at the server")

    healthy = await start_worker("healthy", PRESENT)
    await eventually(lambda: healthy.stream_up, 15, what="healthy worker streaming")
    ids = await submit_insights(server, 4)

    async def all_done() -> list[Any] | None:
        tasks = [await server.state.store.get_task(i) for i in ids]
        done = all(t is not None and t.status is TaskStatus.COMPLETED for t in tasks)
        return tasks if done else None

    tasks = await eventually(all_done, 30, what="AI tasks completed")
    assert {t.worker_id for t in tasks} == {"healthy"}
    assert all(t.attempt == 1 for t in tasks)
    assert not [c for c in fake.calls() if c.body.get("model") == MISSING]

    fake.models.append(MISSING)  # `ollama pull`

    async def ready_now() -> bool:
        return (await readiness(lacking)).status_code == 200

    await eventually(ready_now, 15, what="ready once the model is there")
    body = (await readiness(lacking)).json()
    assert body["status"] == "ready" and body["not_ready_for"] == {}
    await eventually(
        lambda: capacity_is(server, "lacking", "insight_generation", 2), 10, what="AI capacity"
    )


async def capacity_is(server: Server, worker_id: str, type_: str, value: int) -> bool:
    return (await capacity(server, worker_id)).get(type_) == value


async def test_degrade_serves_ai_types_with_the_builtin_backend(
    server: Server, start_worker: Callable[..., Any]
) -> None:
    worker = await start_worker("degrading", MISSING, ai_fallback="degrade")
    await eventually(lambda: worker.stream_up, 15, what="streaming")
    await eventually(lambda: worker.ai_health is not None, 10, what="AI probed")
    assert (await readiness(worker)).status_code == 200
    [task_id] = await submit_insights(server, 1)

    async def done() -> Any:
        task = await server.state.store.get_task(task_id)
        return task if task is not None and task.status is TaskStatus.COMPLETED else None

    task = await eventually(done, 10, what="insight completed (degraded)")
    result = task.result if isinstance(task.result, dict) else json.loads(task.result)
    assert result["degraded"] is True


async def test_a_refused_token_is_named_in_readiness(
    start_worker: Callable[..., Any],
) -> None:
    worker = await start_worker("refused", PRESENT, token="not-the-token")

    async def refused() -> httpx.Response | None:
        r = await readiness(worker)
        return r if r.json()["reason"] != "not registered" and "refused" in r.text else None

    r = await eventually(refused, 15, what="refusal in readiness")
    assert r.status_code == 503
    assert r.json()["reason"] == (
        "server refused the worker token (UNAUTHENTICATED): check ENGLOG_WORKER_TOKEN"
    )
    assert r.json()["ready_for"] == []


async def test_a_model_that_vanishes_under_a_task_gives_it_back(
    server: Server, fake: FakeOllama, start_worker: Callable[..., Any]
) -> None:
    worker = await start_worker("vanishing", PRESENT)
    await eventually(lambda: worker.ai_usable()[0], 15, what="AI usable")
    await eventually(
        lambda: capacity_is(server, "vanishing", "insight_generation", 2), 10, what="capacity"
    )
    fake.script(delay(1.0))  # the model is removed while this generation runs
    # One attempt only: had the failure been charged to the task, it would end FAILED.
    [task_id] = await submit_insights(server, 1, max_attempts=1)
    await eventually(lambda: fake.calls(), 10, what="generation started")
    fake.models.remove(PRESENT)
    await eventually(lambda: not worker.ai_usable()[0], 10, what="AI unusable")
    await eventually(
        lambda: capacity_is(server, "vanishing", "insight_generation", 0), 10, what="paused"
    )

    async def requeued() -> bool:
        task = await server.state.store.get_task(task_id)
        return task is not None and task.status is TaskStatus.PENDING

    await eventually(requeued, 15, what="task back in the queue")
    fake.models.append(PRESENT)

    async def done() -> Any:
        task = await server.state.store.get_task(task_id)
        return task if task is not None and task.status is TaskStatus.COMPLETED else None

    task = await eventually(done, 20, what="completed once the model is back")
    assert task.worker_id == "vanishing"
