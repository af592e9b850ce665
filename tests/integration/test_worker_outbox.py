"""The worker's write-behind outbox with a real in-process server and worker: a result
is reported without waiting for its outbox commit, one acknowledged before its write
began is never written (with the linger, that is every result the server answers at
once), and one the server cannot take is in the outbox file (and stays there through
a graceful stop)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from englog.domain.tasks import NewTask, TaskStatus
from englog.server.app import Server
from englog.server.state import ServerSettings
from englog.worker import Worker
from englog.worker import worker as worker_module
from englog.worker.handlers import load_handlers
from englog.worker.outbox import Key, _Batch
from englog.worker.runner import FinishedResult
from englog.worker.settings import WorkerSettings
from tests.support.procs import eventually, stop_worker_run

pytestmark = pytest.mark.timeout(60)
TOKEN = "wt-outbox"


def file_keys(path: Path) -> set[Key]:
    """What the outbox file holds, read as another process would."""
    with contextlib.closing(sqlite3.connect(path, timeout=2)) as db:
        return {(t, a) for t, a in db.execute("SELECT task_id, attempt FROM results")}


@dataclass
class HeldCommits:
    """Wraps an outbox's commit (run on its writer thread): records every batch, and
    holds the first one until released, as a slow disk would."""

    puts: list[list[Key]] = field(default_factory=list)
    removes: list[list[Key]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # monotonic, as each commit began
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def install(self, worker: Worker) -> None:
        commit = worker.outbox._commit

        def held(batch: _Batch) -> None:
            self.times.append(time.monotonic())
            self.puts.append([r.key for r in batch.puts])
            self.removes.append(list(batch.removes))
            if not self.entered.is_set():
                self.entered.set()
                self.release.wait(30)
            commit(batch)

        worker.outbox._commit = held  # type: ignore[method-assign]


@dataclass
class Rig:
    server: Server
    worker: Worker
    outbox: Path
    stop: asyncio.Event
    run: asyncio.Task[None]
    # task id -> monotonic time its result was handed to delivery (its linger starts
    # there): read from the event itself, not from a poll that may wake late.
    handed: dict[str, float] = field(default_factory=dict)

    async def submit(self, type_: str, **payload: object) -> str:
        [task] = await self.server.state.store.submit_tasks(
            [NewTask(type=type_, payload=payload)], time.time()
        )
        self.server.dispatcher.notify()
        return task.id

    async def completed(self, *task_ids: str) -> bool:
        for task_id in task_ids:
            task = await self.server.state.store.get_task(task_id)
            if task is None or task.status is not TaskStatus.COMPLETED:
                return False
        return True


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, held: HeldCommits | None = None, linger_s: float | None = None
) -> AsyncIterator[Rig]:
    """A server and a worker with an outbox file; `linger_s` None keeps the default."""
    server = Server(
        ServerSettings(
            db_url=f"sqlite:///{tmp_path / 's.db'}",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=(TOKEN,),
            admin_token="adm",
            heartbeat_interval_s=0.2,
            lease_ttl_s=5.0,
            reap_interval_s=0.1,
        )
    )
    await server.start()
    assert server.addresses is not None
    outbox = tmp_path / "outbox.db"
    worker = Worker(
        WorkerSettings(
            server=server.addresses.grpc,
            token=TOKEN,
            worker_id="wo",
            insecure=True,
            concurrency=4,
            outbox=str(outbox),
            **({} if linger_s is None else {"outbox_linger_s": linger_s}),
        ),
        load_handlers(None),
    )
    if held is not None:
        held.install(worker)
    handed: dict[str, float] = {}
    result_ready = worker.delivery.result_ready

    def recording(result: FinishedResult) -> None:
        handed.setdefault(result.key[0], time.monotonic())
        result_ready(result)

    worker.delivery.result_ready = recording  # type: ignore[method-assign]
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: worker.stream_up, 15, what="worker stream up")
        yield Rig(server, worker, outbox, stop, run, handed)
    finally:
        if held is not None:
            held.release.set()
        try:
            await stop_worker_run(stop, run)
        finally:
            await server.stop(grace_s=0.5)


async def test_results_acknowledged_before_their_write_began_are_never_written(
    tmp_path: Path,
) -> None:
    held = HeldCommits()
    async with running(tmp_path, held, linger_s=0) as rig:  # every result written at once
        first = await rig.submit("noop", n=0)
        await eventually(held.entered.is_set, 10, what="the first result's commit started")
        # Its commit is held: the result is reported all the same.
        await eventually(lambda: rig.completed(first), 10, what="reported before its commit")
        # These finish while the outbox loop waits on that commit, and are acknowledged
        # before it can start theirs.
        later = [await rig.submit("noop", n=i) for i in range(1, 6)]
        await eventually(lambda: rig.completed(*later), 10, what="later results accepted")
        await eventually(lambda: rig.worker.pending_results == 0, 10, what="all acknowledged")
        held.release.set()
        await eventually(lambda: len(held.puts) >= 2, 10, what="the delete after the put")
        await eventually(rig.worker.delivery.outbox_idle.is_set, 10, what="outbox loop idle")
        assert held.puts == [[(first, 1)], []]
        assert held.removes == [[], [(first, 1)]]  # the delete follows the committed put
        assert file_keys(rig.outbox) == set()
        assert rig.worker.outbox.commits == 2
        # Every report rode the report stream: one call, no unary fallback.
        assert (rig.worker.session.reports.opened, rig.worker.session.reports.fallbacks) == (1, 0)


async def test_a_result_the_server_cannot_take_is_in_the_outbox_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "RESULT_FLUSH_TIMEOUT_S", 0.5)
    async with running(tmp_path) as rig:
        task_id = await rig.submit("sleep", seconds=1.0)
        await eventually(lambda: task_id in rig.worker.runner.active_ids, 10, what="running")
        await rig.server.stop(grace_s=0.1)  # unreachable from now on
        await eventually(
            lambda: (task_id, 1) in file_keys(rig.outbox), 10, what="result in the outbox"
        )
        assert rig.worker.pending_results == 1  # still waiting to be reported
        worker = rig.worker
    # A graceful stop keeps it there, and the next start picks it up.
    assert file_keys(rig.outbox) == {(task_id, 1)}
    assert worker.pending_results == 1
    again = Worker(
        WorkerSettings(server="127.0.0.1:1", token=TOKEN, worker_id="wo", outbox=str(rig.outbox)),
        load_handlers(None),
    )
    try:
        assert again.pending_results == 1
    finally:
        await again.outbox.close()


async def test_a_graceful_stop_waits_for_the_outbox_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "RESULT_FLUSH_TIMEOUT_S", 0.2)
    held = HeldCommits()
    async with running(tmp_path, held) as rig:
        task_id = await rig.submit("sleep", seconds=0.5)
        await eventually(lambda: task_id in rig.worker.runner.active_ids, 10, what="running")
        await rig.server.stop(grace_s=0.1)
        await eventually(held.entered.is_set, 10, what="the result's commit started")
        rig.stop.set()
        # Unreported, and its write is still running: the worker must not be done.
        done, _ = await asyncio.wait({rig.run}, timeout=1.0)
        assert not done, "the worker stopped before its result was in the outbox"
        held.release.set()
        await asyncio.wait_for(rig.run, 10)
        assert file_keys(rig.outbox) == {(task_id, 1)}


async def test_results_acknowledged_within_the_linger_are_never_written(
    tmp_path: Path,
) -> None:
    held = HeldCommits()
    held.release.set()  # nothing is held: only recorded
    async with running(tmp_path, held, linger_s=0.5) as rig:
        tasks = [await rig.submit("noop", n=i) for i in range(5)]
        await eventually(lambda: rig.completed(*tasks), 10, what="results accepted")
        await eventually(lambda: rig.worker.pending_results == 0, 10, what="all acknowledged")
        await eventually(rig.worker.delivery.outbox_idle.is_set, 10, what="outbox loop idle")
        assert held.puts == [] and rig.worker.outbox.commits == 0
        assert file_keys(rig.outbox) == set()


async def test_a_result_unacknowledged_after_the_linger_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops answering while the task runs: once the linger has passed, the
    result is in the file, though the worker is still trying to report it."""
    monkeypatch.setattr(worker_module, "RESULT_FLUSH_TIMEOUT_S", 0.5)
    async with running(tmp_path, linger_s=0.3) as rig:
        task_id = await rig.submit("sleep", seconds=0.5)
        await eventually(lambda: task_id in rig.worker.runner.active_ids, 10, what="running")
        await rig.server.stop(grace_s=0.1)
        await eventually(lambda: rig.worker.pending_results == 1, 10, what="result finished")
        await eventually(
            lambda: (task_id, 1) in file_keys(rig.outbox), 10, what="result in the outbox"
        )
        assert time.monotonic() - rig.handed[task_id] >= 0.29  # it lingered first (0.3 s)
        assert rig.worker.pending_results == 1


async def test_each_result_lingers_from_its_own_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result that finishes while an earlier one is being written still waits its
    whole linger for an acknowledgement before it is written in turn."""
    monkeypatch.setattr(worker_module, "RESULT_FLUSH_TIMEOUT_S", 0.5)
    held = HeldCommits()
    async with running(tmp_path, held, linger_s=0.3) as rig:
        first = await rig.submit("sleep", seconds=0.1)
        second = await rig.submit("sleep", seconds=0.6)
        await eventually(
            lambda: {first, second} <= set(rig.worker.runner.active_ids), 10, what="running"
        )
        await rig.server.stop(grace_s=0.1)  # nothing is acknowledged from now on
        await eventually(held.entered.is_set, 10, what="the first result's write")
        assert held.puts == [[(first, 1)]]
        await eventually(lambda: rig.worker.pending_results == 2, 10, what="second finished")
        second_done = rig.handed[second]
        held.release.set()
        await eventually(lambda: len(held.puts) >= 2, 10, what="the second result's write")
        assert held.puts[1] == [(second, 1)]
        assert held.times[1] - second_done >= 0.2  # its own linger (0.3 s, less polling)
        await eventually(
            lambda: file_keys(rig.outbox) == {(first, 1), (second, 1)}, 10, what="both on disk"
        )


def test_the_linger_is_bounded() -> None:
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="outbox-linger"):
            WorkerSettings(outbox_linger_s=bad)


async def test_once_the_oldest_has_lingered_every_unacknowledged_result_shares_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow or absent server costs one commit per linger, not one per result: the
    second result, finished within the first one's linger, is written with it."""
    monkeypatch.setattr(worker_module, "RESULT_FLUSH_TIMEOUT_S", 0.5)
    held = HeldCommits()
    held.release.set()  # nothing is held: only recorded
    async with running(tmp_path, held, linger_s=0.5) as rig:
        first = await rig.submit("sleep", seconds=0.2)
        second = await rig.submit("sleep", seconds=0.4)
        await eventually(
            lambda: {first, second} <= set(rig.worker.runner.active_ids), 10, what="running"
        )
        await rig.server.stop(grace_s=0.1)  # nothing is acknowledged from now on
        await eventually(lambda: held.puts, 10, what="the first write")
        assert held.puts == [[(first, 1), (second, 1)]]
        assert file_keys(rig.outbox) == {(first, 1), (second, 1)}
        assert rig.worker.pending_results == 2
