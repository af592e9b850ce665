"""Hands PENDING tasks to worker streams, never more than a worker's free capacity.

One `WorkerStream` per connected worker. A stream sleeps on its own event and is woken
when tasks are submitted, when one of its tasks finishes, or by a short poll (tasks
whose retry backoff has elapsed). Claims are one store write for a whole batch, so a
burst of submissions costs one transaction per stream wake-up, not one per task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import structlog

from englog.domain.tasks import DEFAULT_MAX_REASSIGNMENTS, Task
from englog.store.base import Store

log = structlog.get_logger("englog.server.dispatcher")

# How often an idle stream checks its in-flight set against the store.
RESYNC_INTERVAL_S = 5.0


@dataclass(slots=True)
class WorkerStream:
    """Flow-control state of one worker's open stream."""

    worker_id: str
    capabilities: frozenset[str]
    max_concurrency: int
    inflight: set[str] = field(default_factory=set)
    # Free slots per type from the last heartbeat (0 = this type is paused).
    advertised: dict[str, int] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    # While the stream is being set up: ids whose results arrived meanwhile.
    syncing: bool = False
    finished_early: set[str] = field(default_factory=set)

    def forget(self, task_ids: Iterable[str]) -> None:
        ids = set(task_ids)
        self.inflight.difference_update(ids)
        if self.syncing:
            self.finished_early.update(ids)

    def free_slots(self) -> int:
        return max(0, self.max_concurrency - len(self.inflight))

    def claimable(self) -> dict[str, int]:
        free = self.free_slots()
        return {
            t: min(free, self.advertised.get(t, free))
            for t in self.capabilities
            if self.advertised.get(t, free) > 0
        }


class Dispatcher:
    """Owns the open streams; the gRPC service feeds it events."""

    def __init__(
        self,
        store: Store,
        lease_ttl_s: float,
        clock: Callable[[], float],
        poll_interval_s: float = 0.5,
        max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
        resync_interval_s: float = RESYNC_INTERVAL_S,
    ) -> None:
        self._store = store
        self._resync_interval_s = resync_interval_s
        self._max_reassignments = max_reassignments
        self._lease_ttl_s = lease_ttl_s
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._streams: dict[str, WorkerStream] = {}
        self._turn = 0

    @property
    def streams(self) -> Mapping[str, WorkerStream]:
        return self._streams

    def notify(self) -> None:
        """New or retried tasks may be claimable: wake every stream, least loaded first
        and in rotating order among equals, so work spreads across workers (woken
        streams claim in the order they were woken)."""
        streams = list(self._streams.values())
        if not streams:
            return
        self._turn = (self._turn + 1) % len(streams)
        streams = streams[self._turn :] + streams[: self._turn]
        streams.sort(key=lambda s: len(s.inflight) / s.max_concurrency)
        for stream in streams:
            stream.wake.set()

    def task_finished(self, worker_id: str, task_ids: Iterable[str]) -> None:
        stream = self._streams.get(worker_id)
        if stream is None:
            return
        stream.forget(task_ids)
        stream.wake.set()

    def tasks_requeued(self, tasks: Iterable[Task]) -> None:
        """The reaper took these tasks away from their workers (the returned rows no
        longer name the worker, so every stream forgets them)."""
        ids = {task.id for task in tasks}
        for stream in self._streams.values():
            stream.forget(ids)
        self.notify()

    def drop_workers(self, worker_ids: Iterable[str]) -> None:
        """The store declared these workers dead: end their streams (the worker must
        register again, and its stream then starts from what it still holds)."""
        for worker_id in worker_ids:
            stream = self._streams.get(worker_id)
            if stream is not None:
                self.close_stream(stream)
                stream.wake.set()

    def update_capacity(self, worker_id: str, capacity: Mapping[str, int]) -> None:
        stream = self._streams.get(worker_id)
        if stream is not None and dict(capacity) != stream.advertised:
            stream.advertised = dict(capacity)
            stream.wake.set()

    async def open_stream(
        self,
        worker_id: str,
        capabilities: Iterable[str],
        max_concurrency: int,
        held_task_ids: Iterable[str],
        advertised: Mapping[str, int] | None = None,
    ) -> WorkerStream:
        """Replace any older stream of the worker and requeue the worker's RUNNING tasks
        it no longer holds: they were sent on a stream that broke before delivery.

        The new stream is registered before the first await, so a result reported while
        the store is read is recorded (`finished_early`) instead of leaking a slot. It
        starts from the capacity the worker last advertised (`advertised`, from its
        record), so a type it paused (AI unusable) stays paused across a reconnect."""
        stream = WorkerStream(
            worker_id,
            frozenset(capabilities),
            max(1, max_concurrency),
            advertised=dict(advertised or {}),
        )
        stream.syncing = True
        old = self._streams.get(worker_id)
        if old is not None:
            old.closed = True
            old.wake.set()
        self._streams[worker_id] = stream
        held = set(held_task_ids)
        try:
            running = await self._store.running_tasks(worker_id)
            lost = {t.id: t.attempt for t in running if t.id not in held}
            if lost:
                await self._requeue_lost(worker_id, lost)
        except BaseException:
            self.close_stream(stream)
            raise
        stream.inflight = {t.id for t in running if t.id in held} - stream.finished_early
        stream.syncing = False
        stream.finished_early.clear()
        return stream

    async def _requeue_lost(self, worker_id: str, attempts: dict[str, int]) -> None:
        """Fenced by attempt: a newer delivery of the same task is never taken back."""
        requeued = await self._store.requeue_tasks(
            worker_id,
            list(attempts),
            "assignment lost in transit",
            self._clock(),
            max_reassignments=self._max_reassignments,
            attempts=attempts,
        )
        log.info("lost_assignments_requeued", worker_id=worker_id, count=len(requeued))
        self.notify()

    def close_stream(self, stream: WorkerStream) -> None:
        stream.closed = True
        if self._streams.get(stream.worker_id) is stream:
            del self._streams[stream.worker_id]

    async def assignments(self, stream: WorkerStream) -> AsyncIterator[list[Task]]:
        """Yield batches of freshly leased tasks for as long as the stream is open."""
        woken = True
        last_sync = self._clock()
        while not stream.closed:
            stream.wake.clear()
            claimable = stream.claimable()
            # A poll without a wake-up only claims (a write) when a read sees work.
            if claimable and (
                woken or await self._store.has_pending(list(claimable), now=self._clock())
            ):
                tasks = await self._store.claim_tasks(
                    stream.worker_id,
                    claimable,
                    stream.free_slots(),
                    self._lease_ttl_s,
                    self._clock(),
                )
                if tasks and stream.closed:
                    # Replaced while claiming: these never reach the worker.
                    await self._requeue_lost(stream.worker_id, {t.id: t.attempt for t in tasks})
                    return
                if tasks:
                    stream.inflight.update(t.id for t in tasks)
                    yield tasks
                    continue
            idle = not woken and stream.inflight
            if idle and self._clock() - last_sync >= self._resync_interval_s:
                last_sync = self._clock()
                await self._resync(stream)
            woken = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval_s):
                    await stream.wake.wait()
                    woken = True

    async def _resync(self, stream: WorkerStream) -> None:
        """Forget in-flight ids the store no longer runs for this worker. Another
        replica may have reaped or accepted them (several servers on one database), and
        a slot that is never freed would leave the worker idle while connected."""
        running = {t.id for t in await self._store.running_tasks(stream.worker_id)}
        gone = stream.inflight - running
        if gone:
            log.info("inflight_resynced", worker_id=stream.worker_id, freed=len(gone))
            stream.forget(gone)
            stream.wake.set()
