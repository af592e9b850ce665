"""Hands PENDING tasks to worker streams, never more than a worker's free capacity.

One `WorkerStream` per connected worker. A stream sleeps on its own event and is woken
when tasks are submitted, when one of its tasks finishes, or by a short poll (tasks
whose retry backoff has elapsed). Claims are one store write for a whole batch, so a
burst of submissions costs one transaction per stream wake-up, not one per task.

A submission that finds a stream with a free slot goes further (`submit`): the insert
and that stream's claim share one transaction, and the leased tasks are pushed on the
stream straight after the commit, without waking its claim loop. One commit and one
event-loop hop less per task; the lease is still durable before the worker sees it.

Each insert, claim and requeue it makes also moves the queue's pending count
(`englog.server.pending`), so that count needs no scan of the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from englog.domain.tasks import Disposition, NewTask, ReportedResult, ResultDecision, Task
from englog.server.combining import SubmissionCombiner
from englog.server.metrics import UNKNOWN_RESULT_TYPE
from englog.server.pending import PendingTasks
from englog.server.shielded import finish_anyway
from englog.store.base import Claim, Store
from englog.store.records import ClaimWithReport, KeyedTask

log = structlog.get_logger("englog.server.dispatcher")

# How often an idle stream checks its in-flight set against the store.
RESYNC_INTERVAL_S = 5.0


@dataclass(slots=True)
class WorkerStream:
    """Flow-control state of one worker's open stream."""

    worker_id: str
    capabilities: frozenset[str]
    max_concurrency: int
    # Task id -> type of the tasks leased to it and not finished (a retry's type is
    # known from here when its result comes back).
    inflight: dict[str, str] = field(default_factory=dict)
    # Free slots per type from the last heartbeat (0 = this type is paused).
    advertised: dict[str, int] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Worth a claim when woken: set by `poke` (new tasks, a freed slot, new capacity).
    hinted: bool = True
    # Times poked: a report that claimed for the stream tells whether it was poked
    # meanwhile (`Dispatcher.report`).
    pokes: int = 0
    # The last claim found fewer tasks than it could take: a freed slot alone is then
    # no reason to claim again (new tasks `poke` the stream; the poll is the backstop).
    starved: bool = False
    # Its claim loop is claiming right now: no submission leases to it meanwhile, or
    # both could fill the same free slots.
    claiming: bool = False
    # Slots held by submissions whose lease for this stream is being committed.
    reserved: int = 0
    # Tasks a submission leased to this stream, waiting to be sent.
    ready: list[Task] = field(default_factory=list)
    closed: bool = False
    # While the stream is being set up: ids whose results arrived meanwhile.
    syncing: bool = False
    finished_early: set[str] = field(default_factory=set)

    def forget(self, task_ids: Iterable[str]) -> dict[str, str]:
        """Free the slots of these tasks; returns id -> type of those it held."""
        ids = set(task_ids)
        held = {i: t for i in ids if (t := self.inflight.pop(i, None)) is not None}
        if self.syncing:
            self.finished_early.update(ids)
        return held

    def free_slots(self) -> int:
        return max(0, self.max_concurrency - len(self.inflight) - self.reserved)

    def poke(self) -> None:
        """Wake the claim loop for a claim."""
        self.hinted = True
        self.pokes += 1
        self.wake.set()

    def claimable(self, freeing: int = 0) -> dict[str, int]:
        """Free slots per type it may claim, counting `freeing` more about to be freed
        (a report's, `_claim_with_report`)."""
        free = self.free_slots() + freeing
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
        clock: Callable[[], float],
        *,
        poll_interval_s: float = 0.5,
        resync_interval_s: float = RESYNC_INTERVAL_S,
        pending: PendingTasks | None = None,
    ) -> None:
        """Leases and reassignments follow the store's `QueuePolicy`; `pending` is the
        count this dispatcher's inserts, claims and requeues move."""
        self._store = store
        self.pending = pending if pending is not None else PendingTasks()
        self._resync_interval_s = resync_interval_s
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._streams: dict[str, WorkerStream] = {}
        self._turn = 0
        self.combiner: SubmissionCombiner[NewTask, Task] = SubmissionCombiner(self._submit_now)
        self._keyed: dict[float, SubmissionCombiner[KeyedTask, tuple[Task, bool]]] = {}

    @property
    def streams(self) -> Mapping[str, WorkerStream]:
        return self._streams

    def notify(self) -> None:
        """New or retried tasks may be claimable: wake every stream, least loaded first
        and in rotating order among equals, so work spreads across workers (woken
        streams claim in the order they were woken)."""
        for stream in sorted(self._in_turn(), key=lambda s: len(s.inflight) / s.max_concurrency):
            stream.starved = False
            stream.poke()

    def _in_turn(self) -> list[WorkerStream]:
        """The streams, starting one further at each call, so equals take turns."""
        streams = list(self._streams.values())
        if not streams:
            return []
        self._turn = (self._turn + 1) % len(streams)
        return streams[self._turn :] + streams[: self._turn]

    def task_finished(self, worker_id: str, task_ids: Iterable[str]) -> dict[str, str]:
        """Free the slots of the worker's finished tasks; returns id -> type of those
        its stream held."""
        stream = self._streams.get(worker_id)
        if stream is None:
            return {}
        held = stream.forget(task_ids)
        if not stream.starved:
            stream.poke()
        return held

    async def report(
        self, worker_id: str, reported: Sequence[ReportedResult], now: float, watched: set[str]
    ) -> tuple[list[ResultDecision], dict[str, str]]:
        """Commit a worker's results and free the slots of the accepted ones; returns
        the decisions and id -> type of the finished tasks its stream held. A stream
        worth a claim claims in a quiet report's transaction (`Store.report_and_claim`):
        the slots are filled by the commit that frees them, one commit less per cycle
        of a busy worker, and what it leases is pushed as a submission's lease is."""
        stream = self._streams.get(worker_id)
        # Not when a request waits on one of them: it would wait for the claim too.
        with_claim = None if watched else _claim_with_report(stream, reported)
        if stream is None or with_claim is None:
            decisions = await self._store.report_results(reported, now, watched=watched)
            return decisions, self.task_finished(worker_id, _accepted(decisions))
        free, pokes = with_claim.claim.limit, stream.pokes
        stream.reserved += free  # no submission leases these meanwhile
        try:
            decisions, leased = await self._store.report_and_claim(
                reported, now, with_claim, watched=watched
            )
        finally:
            stream.reserved -= free
        current = self._streams.get(worker_id)
        held = current.forget(_accepted(decisions)) if current is not None else {}
        self.pending.remove(t.type for t in leased)
        room = min(with_claim.after(decisions).limit, sum(with_claim.claim.capacity.values()))
        # Poked meanwhile (new tasks, new capacity): its claim loop may have found no
        # free slot then (they were reserved), so the hint is its again.
        poked = stream.pokes != pokes
        stream.starved = len(leased) < room and not poked
        if leased:
            await self._push(stream, leased)  # back to the queue if the stream closed
        if poked:
            stream.poke()
        return decisions, held

    def type_held(self, worker_id: str, task_id: str) -> str:
        """The type of a task the worker's stream holds, for metrics; "unknown" when
        it holds none by that id (leased by another replica or before a restart)."""
        stream = self._streams.get(worker_id)
        found = stream.inflight.get(task_id) if stream is not None else None
        return found or UNKNOWN_RESULT_TYPE

    async def submit(self, tasks: Sequence[NewTask], now: float) -> list[Task]:
        """Store `tasks`; when a stream has a free slot for them, lease to it in the same
        transaction and push what it got. Returns the tasks as they stand after the
        commit (RUNNING for those leased). Submissions made while one is being stored
        are stored together, next (englog.server.combining)."""
        return await self.combiner.submit(tasks, now)

    async def _submit_now(self, tasks: Sequence[NewTask], now: float) -> list[Task]:
        types = {t.type for t in tasks}
        stream = self._pick_stream(types)
        if stream is None:
            stored = await self._store.submit_tasks(tasks, now)
            self.pending.add(t.type for t in stored)
            self.notify()
            return stored
        capacity = {t: n for t, n in stream.claimable().items() if t in types}
        limit = min(stream.free_slots(), len(tasks))
        stream.reserved += limit
        try:
            stored, leased = await self._store.submit_and_claim(
                tasks, now, Claim(stream.worker_id, capacity, limit)
            )
        finally:
            stream.reserved -= limit
        self.pending.add(t.type for t in tasks)
        if leased:
            self.pending.remove(t.type for t in leased)
            await self._push(stream, leased)
            # One loop turn: the stream sends them before the submitter's reply is
            # written; the task's path to its result is the longer one.
            await asyncio.sleep(0)
        by_id = {t.id: t for t in leased}
        if any(t.id not in by_id for t in stored):
            self.notify()  # some stay PENDING (or an older task was leased instead)
        return [by_id.get(t.id, t) for t in stored]

    async def submit_keyed(
        self, items: Sequence[KeyedTask], ttl_s: float, now: float
    ) -> list[tuple[Task, bool]]:
        """`submit` for submissions under idempotency keys (`Store.submit_keyed`): the
        new ones leased in the same transaction when a stream has a free slot for
        them. Each item's (task as it stands after the commit, created). Combined as
        `submit` is, with the submissions under the same key lifetime."""
        combiner = self._keyed.get(ttl_s)
        if combiner is None:
            combiner = self._keyed[ttl_s] = SubmissionCombiner(
                lambda items, now: self._submit_keyed_now(items, ttl_s, now)
            )
        return await combiner.submit(items, now)

    async def _submit_keyed_now(
        self, items: Sequence[KeyedTask], ttl_s: float, now: float
    ) -> list[tuple[Task, bool]]:
        types = {i.task.type for i in items}
        stream = self._pick_stream(types)
        claim: Claim | None = None
        if stream is not None:
            capacity = {t: n for t, n in stream.claimable().items() if t in types}
            claim = Claim(stream.worker_id, capacity, min(stream.free_slots(), len(items)))
            stream.reserved += claim.limit
        try:
            outcomes, leased = await self._store.submit_keyed(items, ttl_s, now, claim)
        finally:
            if stream is not None and claim is not None:
                stream.reserved -= claim.limit
        created = [t for t, new in outcomes if new]
        self.pending.add(t.type for t in created)
        if leased and stream is not None:
            self.pending.remove(t.type for t in leased)
            await self._push(stream, leased)
            await asyncio.sleep(0)  # as in `submit`: the stream sends before the reply
        by_id = {t.id: t for t in leased}
        if len(leased) < len(created):
            self.notify()
        return [(by_id.get(t.id, t), new) for t, new in outcomes]

    def _pick_stream(self, types: set[str]) -> WorkerStream | None:
        """The least loaded open stream with a free slot for one of `types`, unless its
        claim loop is claiming (it may be filling those very slots); equals take turns,
        as in `notify`."""
        best: WorkerStream | None = None
        best_load = 1.0
        for stream in self._in_turn():
            if stream.closed or stream.syncing or stream.claiming:
                continue
            claimable = stream.claimable()
            if not any(claimable.get(t, 0) > 0 for t in types):
                continue
            load = 1.0 - stream.free_slots() / stream.max_concurrency
            if best is None or load < best_load:
                best, best_load = stream, load
        return best

    async def _push(self, stream: WorkerStream, tasks: list[Task]) -> None:
        if stream.closed or self._streams.get(stream.worker_id) is not stream:
            # Closed while the lease was committed: take it back at once (fenced).
            await self._requeue_lost(stream.worker_id, {t.id: t.attempt for t in tasks})
            return
        stream.inflight.update((t.id, t.type) for t in tasks)
        stream.ready.extend(tasks)
        stream.wake.set()

    async def release(self, stream: WorkerStream) -> None:
        """The stream ended: leases pushed to it but never sent go back to the queue."""
        unsent, stream.ready = stream.ready, []
        if unsent:
            await self._requeue_lost(stream.worker_id, {t.id: t.attempt for t in unsent})

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
            stream.starved = False
            stream.poke()

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
        early = stream.finished_early
        stream.inflight = {t.id: t.type for t in running if t.id in held and t.id not in early}
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
            attempts=attempts,
        )
        log.info("lost_assignments_requeued", worker_id=worker_id, count=len(requeued))
        self.pending.requeued(requeued)
        self.notify()

    def close_stream(self, stream: WorkerStream) -> None:
        stream.closed = True
        if self._streams.get(stream.worker_id) is stream:
            del self._streams[stream.worker_id]

    async def assignments(self, stream: WorkerStream) -> AsyncIterator[list[Task]]:
        """Yield batches of freshly leased tasks for as long as the stream is open:
        those submissions pushed (`ready`), and those its own claims take."""
        polled = False
        last_sync = self._clock()
        while not stream.closed:
            stream.wake.clear()
            if stream.ready:
                pushed, stream.ready = stream.ready, []
                yield pushed
                continue
            hinted, stream.hinted = stream.hinted, False
            claimable = stream.claimable()
            # A poll without a wake-up only claims (a write) when a read sees work.
            if claimable and (
                hinted
                or (polled and await self._store.has_pending(list(claimable), now=self._clock()))
            ):
                limit = stream.free_slots()
                stream.claiming = True
                try:
                    tasks = await finish_anyway(self._claim(stream, claimable, limit))
                finally:
                    stream.claiming = False
                if tasks is None:
                    return
                stream.starved = len(tasks) < min(limit, sum(claimable.values()))
                if tasks:
                    yield tasks
                    continue
            idle = polled and stream.inflight
            if idle and self._clock() - last_sync >= self._resync_interval_s:
                last_sync = self._clock()
                await self._resync(stream)
            polled = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval_s):
                    await stream.wake.wait()
                    polled = False

    async def _claim(
        self, stream: WorkerStream, claimable: dict[str, int], limit: int
    ) -> list[Task] | None:
        """Claim for `stream` and account for it (shielded by the caller: a stream
        cancelled mid-claim still counts what the commit took). None when the stream
        was closed or replaced meanwhile: what it took goes back to the queue."""
        tasks = await self._store.claim_tasks(
            Claim(stream.worker_id, claimable, limit), self._clock()
        )
        self.pending.remove(t.type for t in tasks)
        if stream.closed:
            if tasks:  # these never reach the worker
                await self._requeue_lost(stream.worker_id, {t.id: t.attempt for t in tasks})
            return None
        stream.inflight.update((t.id, t.type) for t in tasks)
        return tasks

    async def _resync(self, stream: WorkerStream) -> None:
        """Forget in-flight ids the store no longer runs for this worker. Another
        replica may have reaped or accepted them (several servers on one database), and
        a slot that is never freed would leave the worker idle while connected."""
        before = set(stream.inflight)  # a task pushed during the read is not judged by it
        running = {t.id for t in await self._store.running_tasks(stream.worker_id)}
        gone = before - running
        if gone:
            log.info("inflight_resynced", worker_id=stream.worker_id, freed=len(gone))
            stream.forget(gone)
            stream.poke()


def _accepted(decisions: Sequence[ResultDecision]) -> list[str]:
    """Only an accepted result frees a slot: a duplicate's slot was freed when it was
    first accepted, and a stale one's task may run here again as a newer attempt."""
    return [d.task_id for d in decisions if d.disposition is Disposition.ACCEPTED]


def _claim_with_report(
    stream: WorkerStream | None, reported: Sequence[ReportedResult]
) -> ClaimWithReport | None:
    """What `stream` claims with its worker's report: its free slots and those the
    report frees. None when it is not worth a claim (closing, being set up, claiming
    already, or its last claim found the queue empty: a freed slot alone is then no
    reason to claim, as in `task_finished`)."""
    if stream is None or stream.closed or stream.syncing or stream.claiming or stream.starved:
        return None
    freeing = frozenset(r.task_id for r in reported if r.task_id in stream.inflight)
    capacity = stream.claimable(len(freeing))
    if not any(capacity.values()):
        return None
    return ClaimWithReport(Claim(stream.worker_id, capacity, stream.free_slots()), freeing)
