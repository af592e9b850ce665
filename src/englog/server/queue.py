"""`TaskQueue`: the one place where the server changes a task's state.

Every change ends with the same duties, and forgetting one is a bug nobody sees at
once: wake the dispatcher (a task is claimable, or a slot is free), hand finished tasks
to the requests waiting on them (`TaskWatch.finished`), move the pending count
(`PendingTasks`) and count the metric. The REST routes, `WorkerService` and the
server's background loops (lease reaper, retention) therefore call this class, never
the store's task-changing methods themselves.

The submission and result paths are the benchmarked ones: a submission leases at once
to a stream with a free slot (`Dispatcher.submit`), a result hands the committed task to
its waiters without a read. Neither awaits or reads anything more than the store write
it needs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from englog.domain.tasks import (
    Disposition,
    NewTask,
    ReportedResult,
    ResultDecision,
    Task,
    TaskStatus,
)
from englog.errors import EnglogError
from englog.server.dispatcher import Dispatcher
from englog.server.metrics import ServerMetrics
from englog.server.pending import UNKNOWN_TYPE, PendingTasks
from englog.server.settings import ServerSettings
from englog.server.shielded import finish_anyway
from englog.server.watch import TaskWatch
from englog.store.base import Store
from englog.store.records import Heartbeat, HeartbeatReply, KeyedTask

log = structlog.get_logger("englog.server.queue")

REFUSAL_LOG_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class Cancellation:
    """A cancel request's effect: the task before and after it (the same task when it
    was already finished, which cancelling leaves alone)."""

    before: Task
    after: Task


# The metadata key naming the task a retry repeats.
RETRY_OF = "retry_of"
RETRIABLE = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED})


class NotRetriable(EnglogError):
    """Only a failed or cancelled task can be run again (a 409 on the API)."""


class TooManyTasks(EnglogError):
    """A user's unfinished tasks would pass `max_queued_per_user` (a 429)."""


class TaskQueue:
    """Task state changes on this server, each with its dispatcher wake-up, waiter
    hand-over, pending count and metrics."""

    def __init__(
        self,
        store: Store,
        settings: ServerSettings,
        *,
        watch: TaskWatch,
        metrics: ServerMetrics,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._settings = settings
        self._watch = watch
        self._metrics = metrics
        self._clock = clock
        self.pending = PendingTasks()
        self.dispatcher = Dispatcher(store, clock, pending=self.pending)
        self.refused_at_cap = 0  # submissions refused by max_queued_per_user, since start
        self._refusals_unlogged: dict[str, tuple[float, int]] = {}  # user -> (logged at, n)

    def connected_workers(self) -> dict[str, frozenset[str]]:
        """worker id -> capabilities of the workers with an open task stream here."""
        return {w: s.capabilities for w, s in self.dispatcher.streams.items()}

    # --- start ------------------------------------------------------------------
    async def recover(self) -> int:
        """At start, before serving: leases and sessions outlive the server's downtime
        (`Store.extend_running_leases`), and the pending count starts from the store's.
        Returns the number of leases extended."""
        extended = await self._store.extend_running_leases(self._clock())
        await self.pending.recount(self._store)
        return extended

    async def recount_forever(self) -> None:
        """The background recount of pending tasks (see englog.server.pending)."""
        await self.pending.recount_forever(self._store, self._settings.pending_recount_s)

    # --- submission ---------------------------------------------------------------
    async def submit(self, tasks: Sequence[NewTask]) -> list[Task]:
        """Store new tasks (one transaction for all) and get them moving: leased in the
        same transaction when a stream has a free slot, else queued with the streams
        woken. Returns the tasks as committed (RUNNING for those leased). Raises
        TooManyTasks past a user's cap on unfinished tasks."""
        await self._check_user_cap(tasks)
        return await self.dispatcher.submit(tasks, self._clock())

    async def _check_user_cap(self, tasks: Sequence[NewTask]) -> None:
        cap = self._settings.max_queued_per_user
        if not cap:
            return
        per_user: dict[str, int] = {}
        for task in tasks:
            if task.user_id is not None:
                per_user[task.user_id] = per_user.get(task.user_id, 0) + 1
        for user_id, adding in per_user.items():
            held = await self._store.unfinished_count(user_id)
            if held + adding > cap:
                self._refused(user_id, held, cap)
                raise TooManyTasks(
                    f"{held} of your tasks are unfinished; at most {cap} may be pending or"
                    " running at once: wait for some to finish"
                )

    def _refused(self, user_id: str, held: int, cap: int) -> None:
        """Count a refusal at the cap; log it at most once per user every
        REFUSAL_LOG_EVERY_S (a submitter at its bound retries: one line, not a flood)."""
        self.refused_at_cap += 1
        self._metrics.submissions_refused.labels("too_many_tasks").inc()
        now = self._clock()
        logged_at, since = self._refusals_unlogged.get(user_id, (float("-inf"), 0))
        if now - logged_at < REFUSAL_LOG_EVERY_S:
            self._refusals_unlogged[user_id] = (logged_at, since + 1)
            return
        self._refusals_unlogged[user_id] = (now, 0)
        log.warning(
            "submission_refused_at_cap",
            user_id=user_id,
            unfinished=held,
            max_queued_per_user=cap,
            refused_since_last_line=since,
        )

    async def submit_once(self, task: NewTask, key: str, fingerprint: str) -> tuple[Task, bool]:
        """One submission under an idempotency key within `idempotency_ttl_s`; (task,
        created). Raises IdempotencyKeyReused for the same key with another fingerprint,
        and TooManyTasks past the user's cap."""
        [outcome] = await self.submit_keyed([KeyedTask(task, key, fingerprint)])
        return outcome

    async def submit_keyed(self, items: Sequence[KeyedTask]) -> list[tuple[Task, bool]]:
        """Submissions under idempotency keys, in one transaction (all or nothing), the
        new ones leased at once when a stream has room, like `submit`. TooManyTasks
        past a user's cap (replays included: they are counted as they come)."""
        await self._check_user_cap([item.task for item in items])
        ttl_s = self._settings.idempotency_ttl_s
        return await self.dispatcher.submit_keyed(items, ttl_s, self._clock())

    async def cancel(self, task_id: str, user_id: str | None) -> Cancellation | None:
        """Cancel a task of `user_id` (any task for None): a PENDING one at once, a
        RUNNING one through its worker's next heartbeat; a finished one stays as it is.
        None when there is no such task for this caller."""
        before = await self._store.get_task(task_id, user_id)
        if before is None or before.status.terminal:
            return None if before is None else Cancellation(before, before)
        after = await self._store.cancel_task(task_id, user_id, self._clock())
        if after is None:
            return None
        if after.status in (TaskStatus.COMPLETED, TaskStatus.FAILED):  # finished meanwhile
            return Cancellation(before, after)
        if after.status is TaskStatus.CANCELLED and before.status is TaskStatus.PENDING:
            self.pending.remove([after.type])
        self.dispatcher.notify()
        if after.status.terminal:
            self._watch.finished([after.id])
        return Cancellation(before, after)

    async def retry(self, task_id: str, user_id: str | None) -> Task | None:
        """Run a failed or cancelled task again: a new task with the same type,
        payload, owner, priority, attempts and timeout, submitted as any other, whose
        metadata names the original (`retry_of`). The original stays as it ended, so
        its attempts remain readable. None when there is no such task for this caller;
        NotRetriable when it is pending, running or completed."""
        original = await self._store.get_task(task_id, user_id)
        if original is None:
            return None
        if original.status not in RETRIABLE:
            raise NotRetriable(
                f"task {task_id} is {original.status}: only a failed or cancelled task"
                " can be retried"
            )
        again = NewTask(
            type=original.type,
            payload=original.payload,
            user_id=original.user_id,
            priority=original.priority,
            max_attempts=original.max_attempts,
            timeout_s=original.timeout_s,
            metadata={**original.metadata, RETRY_OF: original.id},
        )
        [task] = await self.submit([again])
        self._metrics.tasks_retried.inc()
        log.info("task_retried", task_id=task.id, retry_of=original.id, type=task.type)
        return task

    # --- workers ------------------------------------------------------------------
    async def heartbeat(self, beat: Heartbeat) -> HeartbeatReply | None:
        """Record a worker's heartbeat and renew the leases of the tasks it still runs;
        the capacity it advertises takes effect on its stream at once. None when the
        session is unknown (never registered, replaced, or declared dead)."""
        reply = await self._store.heartbeat_and_renew(beat, self._clock())
        if reply is not None:
            self.dispatcher.update_capacity(reply.session.worker_id, beat.capacity)
        return reply

    async def progress(
        self, task_id: str, attempt: int, worker_id: str, percent: float, message: str | None
    ) -> bool:
        """Record progress and renew that lease; False when the attempt is not current."""
        return await self._store.update_progress(
            task_id,
            attempt,
            worker_id,
            percent,
            message,
            self._clock(),
        )

    async def report(
        self, worker_id: str, reported: Sequence[ReportedResult]
    ) -> list[ResultDecision]:
        """Commit a worker's results (fenced, idempotent), then: count them, hand the
        finished tasks to the requests waiting on them, free the worker's slots and wake
        the streams for retries.

        Shielded from the caller's cancellation: a worker's connection cut mid-call
        cancels its handler, but a commit under way still happens (SQLite's writer runs
        it regardless), and then so must its bookkeeping. Without the shield the
        accepted result went uncounted, its waiters unwoken and its slot held, and the
        worker's resend was counted a duplicate (seen under the chaos proxy: 299
        accepted for 300 completed tasks)."""
        return await finish_anyway(self._report_now(worker_id, reported))

    async def _report_now(
        self, worker_id: str, reported: Sequence[ReportedResult]
    ) -> list[ResultDecision]:
        # Tasks a request waits on (a long poll, a submission with Prefer: wait) come
        # back from the commit as committed, so that request answers without a read.
        watched = self._watch.watched(r.task_id for r in reported)
        decisions, held = await self.dispatcher.report(worker_id, reported, self._clock(), watched)
        woken = self._watch.finished(
            (d.task_id for d in decisions if d.status is not None and d.status.terminal),
            {d.task_id: d.final for d in decisions if d.final is not None},
        )
        accepted = [d for d in decisions if d.disposition is Disposition.ACCEPTED]
        for r, d in zip(reported, decisions, strict=True):
            type_ = held.get(d.task_id) or self.dispatcher.type_held(worker_id, d.task_id)
            self._metrics.results_of(d.disposition.value, r.outcome.value, type_).inc()
        self.pending.add(
            held.get(d.task_id, UNKNOWN_TYPE) for d in accepted if d.status is TaskStatus.PENDING
        )
        if any(d.status is TaskStatus.PENDING for d in decisions):
            self.dispatcher.notify()  # a retry is queued; another stream may take it
        if woken:
            # One loop turn: the clients long-polling these tasks are answered before
            # the worker's ack is built and sent (the ack is on nobody's critical path).
            await asyncio.sleep(0)
        return decisions

    # --- background -----------------------------------------------------------------
    async def reap(self, *, restarting: bool) -> set[str]:
        """Take tasks back from workers gone silent and from expired leases, and end
        tasks past their deadline. `restarting`: the server started less than a lease
        TTL ago, so running tasks may have finished while it was down and their reports
        are still on the way: deadlines wait. Returns the workers declared dead."""
        settings, now = self._settings, self._clock()
        # Sessions count as heard from at start (extend_running_leases), so a worker
        # is silent only after 3 intervals without reaching the restarted server.
        lost = await self._store.reap_lost_workers(now - settings.worker_dead_after_s, now)
        dead = set(lost.worker_ids)
        if dead:
            self.dispatcher.drop_workers(dead)
            self._metrics.workers_lost.inc(len(dead))
            log.warning("workers_lost", worker_ids=sorted(dead), tasks=len(lost.tasks))
        expired = await self._store.requeue_expired(now, enforce_deadlines=not restarting)
        if expired:
            self._metrics.leases_expired.inc(len(expired))
            for task in expired:
                log.warning(
                    "lease_expired",
                    task_id=task.id,
                    attempt=task.attempt,
                    status=str(task.status),
                    error=task.error,
                )
        ended = [*lost.tasks, *expired]
        if ended:
            self.pending.requeued(ended)
            self._watch.finished(t.id for t in ended if t.status.terminal)
            self.dispatcher.tasks_requeued(ended)
        return dead

    async def prune(self) -> int:
        """Delete finished tasks older than `retention_s`, in short transactions (other
        writers get in between batches), and expired web sessions. Returns how many
        tasks went."""
        settings = self._settings
        cutoff = self._clock() - settings.retention_s
        total = 0
        while True:
            deleted = await self._store.prune_finished(cutoff, settings.prune_batch)
            total += deleted
            if deleted < settings.prune_batch:
                break
            await asyncio.sleep(0)
        sessions = await self._store.prune_web_sessions(self._clock())
        if sessions:
            log.info("web_sessions_pruned", count=sessions)
        if total:
            self._metrics.tasks_pruned.inc(total)
            log.info("finished_tasks_pruned", count=total, older_than_s=settings.retention_s)
        return total
