"""The server's pending-task count (englog.server.pending): kept from the queue's own
changes, so `/health`, `/readiness` and `/metrics` never count rows. Checked against the
store's own count after every kind of change, over a real SQLite store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from englog.domain.tasks import NewTask, ReportedResult, ResultOutcome
from englog.domain.tokens import hash_token
from englog.server.app import Server
from englog.server.http import create_http_app
from englog.server.state import ServerSettings, ServerState
from englog.store.base import WorkerInfo
from englog.store.sqlite import SQLiteStore
from tests.support.procs import eventually

pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000.0


@pytest.fixture
def now() -> list[float]:
    return [T0]


@pytest.fixture
def state(store: SQLiteStore, now: list[float]) -> ServerState:
    return ServerState(
        store=store, settings=ServerSettings(admin_token="adm"), clock=lambda: now[0]
    )


async def matches_store(state: ServerState) -> dict[str, int]:
    """The queue's count, after checking it equals what the store counts."""
    counted = await state.store.pending_by_type()
    assert state.queue.pending.by_type() == counted
    assert state.queue.pending.total == sum(counted.values())
    return counted


def tasks(task_type: str, n: int) -> list[NewTask]:
    return [NewTask(type=task_type, payload={"i": i}) for i in range(n)]


async def test_the_count_follows_every_change(
    store: SQLiteStore, state: ServerState, now: list[float]
) -> None:
    queue = state.queue
    await store.register_worker(
        WorkerInfo(id="w1", name="w1", capabilities=("noop",), max_concurrency=3),
        hash_token("session"),
        now[0],
    )
    submitted = await queue.submit([*tasks("noop", 3), *tasks("sleep", 2)])
    assert await matches_store(state) == {"noop": 3, "sleep": 2}

    # A stream's claim takes two; a submission then finds its last free slot.
    stream = await queue.dispatcher.open_stream("w1", ["noop"], 3, [])
    stream.advertised = {"noop": 2}
    assignments = queue.dispatcher.assignments(stream)
    claimed = await anext(assignments)
    assert len(claimed) == 2
    assert await matches_store(state) == {"noop": 1, "sleep": 2}
    stream.advertised = {}
    await queue.submit(tasks("noop", 1))  # leases the oldest pending noop in its commit
    [leased] = set(stream.inflight) - {t.id for t in claimed}
    assert await matches_store(state) == {"noop": 1, "sleep": 2}

    # One result completes its task, one is a retriable failure: queued again.
    done, retried = (
        ReportedResult(t.id, t.attempt, "w1", outcome, retriable=True, error="e")
        for t, outcome in zip(claimed, (ResultOutcome.COMPLETED, ResultOutcome.FAILED), strict=True)
    )
    # The two freed slots claim in the report's commit: the pending noop is leased (the
    # retry waits for its backoff, and the claim's snapshot is older than it anyway).
    await queue.report("w1", [done, retried])
    *_, claimed_with_report = stream.ready  # after the submission's, never sent here
    assert claimed_with_report.id not in {leased, retried.task_id}
    assert await matches_store(state) == {"noop": 1, "sleep": 2}

    # Cancelling: a pending task leaves the queue, a finished one is left alone.
    sleeper = next(t for t in submitted if t.type == "sleep")
    for task_id in (sleeper.id, done.task_id):
        assert await queue.cancel(task_id, None) is not None
    assert await matches_store(state) == {"noop": 1, "sleep": 1}

    # The worker goes silent: the reaper takes its two running tasks back.
    assert (await store.get_task(leased)).status == "running"  # type: ignore[union-attr]
    now[0] += state.settings.worker_dead_after_s + 1
    assert await queue.reap(restarting=False) == {"w1"}
    assert await matches_store(state) == {"noop": 3, "sleep": 1}

    # Prune and an idempotent submission (created once, replayed once).
    await queue.prune()
    for _ in range(2):
        await queue.submit_once(tasks("sleep", 1)[0], "key-1", "fingerprint")
    assert await matches_store(state) == {"noop": 3, "sleep": 2}


async def test_lost_assignments_count_again(store: SQLiteStore, state: ServerState) -> None:
    """A stream that closes with leases it never sent gives them back (Dispatcher.release)."""
    queue = state.queue
    await queue.submit(tasks("noop", 2))
    stream = await queue.dispatcher.open_stream("w1", ["noop"], 2, [])
    await queue.submit(tasks("noop", 1))  # leased at submission, pushed, never sent
    assert await matches_store(state) == {"noop": 2}
    queue.dispatcher.close_stream(stream)
    await queue.dispatcher.release(stream)
    assert await matches_store(state) == {"noop": 3}


class GatedStore(SQLiteStore):
    """Holds `pending_by_type` until `gate` is set, so a change can land mid-recount."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.counting = asyncio.Event()

    async def pending_by_type(self) -> dict[str, int]:
        counted = await super().pending_by_type()
        self.counting.set()
        await self.gate.wait()
        return counted


async def test_a_recount_brings_in_other_writers_and_keeps_changes_made_meanwhile(
    tmp_path: Path,
) -> None:
    store = GatedStore(tmp_path / "g.db")
    await store.open()
    try:
        state = ServerState(store=store, settings=ServerSettings())
        await store.submit_tasks(tasks("noop", 4), time.time())  # another replica's
        assert state.queue.pending.total == 0
        recount = asyncio.create_task(state.queue.pending.recount(store))
        await store.counting.wait()
        await state.queue.submit(tasks("sleep", 1))  # committed after the count read
        store.gate.set()
        await recount
        assert state.queue.pending.by_type() == {"noop": 4, "sleep": 1}
        assert state.queue.pending.recounts == 1
    finally:
        await store.close()


async def test_health_readiness_and_metrics_never_count_rows(
    store: SQLiteStore, state: ServerState, monkeypatch: pytest.MonkeyPatch
) -> None:
    await state.queue.submit([*tasks("noop", 2), *tasks("gpu_job", 3)])
    state.ready = True

    async def no_count(*_: Any, **__: Any) -> Any:
        raise AssertionError("a route counted rows in the store")

    monkeypatch.setattr(store, "pending_count", no_count)
    monkeypatch.setattr(store, "pending_by_type", no_count)
    transport = httpx.ASGITransport(app=create_http_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        health = await client.get("/health")
        ready = await client.get("/readiness")
        scrape = await client.get("/metrics")
    assert health.status_code == 200 and health.json()["pending_tasks"] == 5
    assert ready.status_code == 200 and ready.json()["pending_tasks"] == 5
    assert ready.json()["unroutable_task_types"] == {"gpu_job": 3, "noop": 2}
    assert "englog_tasks_pending 5.0" in scrape.text


async def test_a_started_server_counts_what_the_store_holds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    before = SQLiteStore(tmp_path / "s.db")
    await before.open()
    await before.submit_tasks(tasks("noop", 3), time.time())
    await before.close()
    server = Server(
        ServerSettings(db_url=url, grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0")
    )
    await server.start()
    try:
        assert server.addresses is not None
        async with httpx.AsyncClient(base_url=f"http://{server.addresses.http}") as client:
            health = (await client.get("/health")).json()
        assert health["pending_tasks"] == 3
    finally:
        await server.stop(grace_s=0.5)


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Server]:
    """A server whose recount runs every 50 ms."""
    settings = ServerSettings(
        db_url=f"sqlite:///{tmp_path / 'r.db'}",
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        pending_recount_s=0.05,
    )
    server = Server(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace_s=0.5)


async def test_the_background_recount_catches_up(started: Server) -> None:
    await started.state.store.submit_tasks(tasks("noop", 2), time.time())  # another replica's
    await eventually(lambda: started.queue.pending.total == 2, within=5, what="recount")
