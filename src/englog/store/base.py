"""The `Store` interface: everything the server persists, behind one abstract class
so SQLite (default) and PostgreSQL (several replicas) are interchangeable.

Rules every implementation keeps:
- every method that changes state has committed before it returns (durability
  before acknowledgement);
- task state changes are fenced: they name the attempt (and worker) they apply to
  and do nothing when the task has moved on;
- times are unix seconds (float) passed in by the caller, so tests control the clock;
- secrets (API tokens, session tokens) are stored only as hashes, computed by the caller;
- failures leave as `StoreError`: `InvalidData` when a value can never be stored (the
  request's fault; NUL in entry text is refused by every backend alike), the base
  class when the store itself failed and a retry may help.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from englog.domain.entries import Entry, EntryFields
from englog.domain.policy import DEFAULT_DEADLINE_GRACE_S as DEFAULT_DEADLINE_GRACE_S
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    NewTask,
    ReportedResult,
    ResultDecision,
    Task,
    TaskAttempt,
    TaskStatus,
)
from englog.errors import EnglogError
from englog.store.calendar import CalendarStore
from englog.store.projects import TagStore
from englog.store.records import (
    Claim,
    ClaimWithReport,
    EntryQuery,
    Heartbeat,
    HeartbeatReply,
    KeyedTask,
    LostDeliveries,
    LostWorkers,
    MinuteCount,
    ProgressReport,
    Session,
    TaskQuery,
    WebSession,
    WorkerCredential,
    WorkerInfo,
    WorkerRecord,
)
from englog.store.records import User as User


class StoreError(EnglogError):
    """Base of store errors; backend exceptions are translated into these."""


class StoreClosed(StoreError):
    """The store was used after close()."""


class InvalidData(StoreError):
    """The database refused a value it can never hold (PostgreSQL: NUL in text, NaN or
    Infinity in JSON). The request's fault, not the store's: retrying cannot help, so
    callers answer it as bad input (HTTP 422, gRPC INVALID_ARGUMENT), never as "store
    unavailable"."""


class IdempotencyKeyReused(EnglogError):
    """An Idempotency-Key was used again, within its lifetime, for a different request.
    Not a StoreError: nothing is wrong with the store; the caller gets a 422."""

    def __init__(self, key: str, task_id: str | None) -> None:
        # No task id: the other request is an earlier item of the same batch.
        where = "an earlier item of this batch" if task_id is None else f"task {task_id}"
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request ({where})"
        )
        self.key = key
        self.task_id = task_id


class Store(TagStore, CalendarStore, abc.ABC):
    """Persistence for users, entries, tasks, workers and sessions.

    A backend is given its `QueuePolicy` (lease TTL, retry backoff, reassignment cap,
    deadline grace) at construction and applies it in every method below that leases
    a task or ends an attempt. Methods whose arguments need normalising are written
    here once and call a backend's protected method (`_list_tasks`, `_renew_leases`,
    `_requeue`, `_record_progress`, `_report`)."""

    policy: QueuePolicy

    # --- life cycle -----------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending schema migrations."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release connections; idempotent."""

    def add_task_listener(self, callback: Callable[[], None]) -> None:
        """Have `callback` called (on the event loop) when another process sharing the
        database, such as a server replica, makes tasks claimable. This process's own
        submissions and requeues are announced by its callers, so a backend that only
        one process can use has nothing to report and ignores the callback."""

    # --- users: accounts, tokens (`AccountStore`), zone, target, timer (`CalendarStore`)

    # --- entries (always scoped to one user) --------------------------------------
    @abc.abstractmethod
    async def add_entries(
        self, user_id: str, entries: Sequence[EntryFields], now: float
    ) -> list[Entry]:
        """Insert all in one transaction (bulk is all or nothing)."""

    @abc.abstractmethod
    async def get_entry(self, user_id: str, entry_id: str) -> Entry | None: ...

    @abc.abstractmethod
    async def get_entries(self, user_id: str, entry_ids: Sequence[str]) -> list[Entry]:
        """The entries among `entry_ids` that belong to the user, in start_time order."""

    @abc.abstractmethod
    async def list_entries(self, user_id: str, query: EntryQuery) -> list[Entry]:
        """Matching entries in start_time order."""

    @abc.abstractmethod
    async def update_entry(
        self, user_id: str, entry_id: str, changes: Mapping[str, Any], now: float
    ) -> Entry | None:
        """Apply already-validated field changes; None when not found for this user."""

    @abc.abstractmethod
    async def delete_entry(self, user_id: str, entry_id: str) -> bool: ...

    # --- tasks ----------------------------------------------------------------
    @abc.abstractmethod
    async def submit_tasks(self, tasks: Sequence[NewTask], now: float) -> list[Task]:
        """Insert PENDING tasks (attempt 1) in one transaction."""

    @abc.abstractmethod
    async def submit_idempotent(
        self, task: NewTask, key: str, fingerprint: str, ttl_s: float, now: float
    ) -> tuple[Task, bool]:
        """Submit `task` once per (task.user_id, key): in one transaction, look up the
        key in the submitter's scope (user_id None is the admin's own scope).
        - No live entry (none, or created before now - ttl_s; an old one is replaced):
          insert the task and the key (fingerprint, task id, created_at = now);
          return (task, True).
        - A live entry with the same fingerprint: insert nothing; return (the first
          task as it is now, False).
        - A live entry with another fingerprint: raise IdempotencyKeyReused.
        Keys go when their task is pruned (`prune_finished`)."""

    async def submit_keyed(
        self, items: Sequence[KeyedTask], ttl_s: float, now: float, claim: Claim | None = None
    ) -> tuple[list[tuple[Task, bool]], list[Task]]:
        """`submit_idempotent` for each item, in one transaction where the store does
        that well: all or nothing (IdempotencyKeyReused for any item stores none), and
        a key repeated within `items` answers its first item's task. With `claim`, the
        new tasks are inserted already leased when they fit it with nothing claimable
        ahead of them (as `submit_and_claim`). Returns each item's (task, created) in
        order, and the tasks leased. This default runs a transaction per item and
        leases nothing; stores override it with one."""
        outcomes = [
            await self.submit_idempotent(i.task, i.key, i.fingerprint, ttl_s, now) for i in items
        ]
        return outcomes, []

    @abc.abstractmethod
    async def get_task(self, task_id: str, user_id: str | None = None) -> Task | None:
        """user_id None means any user (admin); otherwise only that user's task."""

    async def list_tasks(
        self,
        user_id: str | None,
        status: TaskStatus | None = None,
        type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Task]:
        """Newest first."""
        return await self._list_tasks(TaskQuery(user_id, status, type, limit, offset))

    @abc.abstractmethod
    async def _list_tasks(self, query: TaskQuery) -> list[Task]: ...

    @abc.abstractmethod
    async def claim_tasks(self, claim: Claim, now: float) -> list[Task]:
        """Lease up to `claim.limit` PENDING tasks whose type has capacity > 0 (at most
        capacity[type] of each) and whose run_after <= now: highest priority first,
        FIFO within a priority. They become RUNNING for the claim's worker with
        lease_expires_at = now + policy.lease_ttl_s; started_at is set. Each claim opens
        an attempt record (task_id, attempt, worker_id, started_at = now; outcome None)."""

    async def submit_and_claim(
        self, tasks: Sequence[NewTask], now: float, claim: Claim
    ) -> tuple[list[Task], list[Task]]:
        """`submit_tasks`, and a claim for `claim` in the same transaction where the
        store does that well: a task submitted while a stream has a free slot is then
        leased with one commit, not two. Whatever is claimed is what `claim_tasks` would
        take (the best PENDING tasks), so a new task jumps no queue. The claimed list may
        be empty although slots are free (the streams' own claims take the rest; the
        caller wakes them). Returns (the submitted tasks, the claimed tasks); a
        submitted task that was claimed may show either state in the first list. This
        default runs two transactions; stores override it with one."""
        stored = await self.submit_tasks(tasks, now)
        return stored, await self.claim_tasks(claim, now)

    async def renew_leases(
        self, worker_id: str, now: float, task_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Extend the leases of the tasks RUNNING for the worker to now +
        policy.lease_ttl_s (only those in `task_ids` when given: the ones it says it
        still runs); return the ids of those among them whose cancellation was
        requested."""
        return await self._renew_leases(worker_id, now, None if task_ids is None else [*task_ids])

    @abc.abstractmethod
    async def _renew_leases(self, worker_id: str, now: float, ids: list[str] | None) -> list[str]:
        """`renew_leases`; `ids` None: all the worker's RUNNING tasks."""

    async def requeue_tasks(
        self,
        worker_id: str,
        task_ids: Sequence[str],
        reason: str,
        now: float,
        *,
        attempts: Mapping[str, int] | None = None,
    ) -> list[Task]:
        """The worker's RUNNING tasks among `task_ids` never reached it (lost in
        transit). Each is a reassignment (see "Taking a task back" below) with no
        delay (run_after = now). Fenced: with `attempts` (task id -> attempt), a task
        is taken back only while it still runs that attempt, so a newer delivery of
        it to the same worker is never undone. Returns the changed tasks."""
        if not task_ids:
            return []
        return await self._requeue(LostDeliveries(worker_id, list(task_ids), reason, attempts), now)

    @abc.abstractmethod
    async def _requeue(self, lost: LostDeliveries, now: float) -> list[Task]: ...

    # Taking a task back from a worker ("reassignment"), shared by requeue_tasks,
    # requeue_expired (lease expiry) and reap_lost_workers, fenced on the task being
    # RUNNING at the attempt read in the same transaction (englog.domain.attempts):
    # - cancel_requested: -> CANCELLED (nobody wants another attempt);
    # - reassignments < policy.max_reassignments: -> PENDING, attempt + 1,
    #   reassignments + 1, error = reason; max_attempts is untouched, and since
    #   retries are counted as attempt - reassignments this does not use one up;
    # - otherwise -> FAILED, error = f"{reason}; taken back from its worker
    #   {reassignments} times (reassignment cap {max_reassignments})".
    # The attempt record ends with outcome LOST (requeue_tasks, reap_lost_workers)
    # or EXPIRED (requeue_expired) and error = reason.

    async def update_progress(
        self,
        task_id: str,
        attempt: int,
        worker_id: str,
        percent: float,
        message: str | None,
        now: float,
    ) -> bool:
        """Record progress (clamped to 0..100) and renew that lease to now +
        policy.lease_ttl_s if the attempt is current."""
        percent = min(100.0, max(0.0, float(percent)))
        progress = ProgressReport(task_id, attempt, worker_id, percent, message)
        return await self._record_progress(progress, now)

    @abc.abstractmethod
    async def _record_progress(self, progress: ProgressReport, now: float) -> bool: ...

    async def report_results(
        self, results: Sequence[ReportedResult], now: float, *, watched: Collection[str] = ()
    ) -> list[ResultDecision]:
        """Fenced, idempotent results, all in one transaction, one decision each:
        ACCEPTED when the task is RUNNING with that attempt and worker (COMPLETED;
        FAILED, or PENDING with attempt+1 and run_after = now + the policy's backoff
        when retriable and attempts remain, i.e. attempt - reassignments <
        max_attempts; CANCELLED); DUPLICATE when that same attempt's result was already
        accepted; STALE otherwise; UNKNOWN_TASK when there is no such task. An accepted
        result ends its attempt record with the reported outcome (completed, failed or
        cancelled) and error. The decision of an accepted result that finishes a task
        named in `watched` carries the task and its attempts as committed (`final`),
        read in the same transaction: requests waiting on it answer without a read."""
        if not results:
            return []
        return await self._report(list(results), now, frozenset(watched))

    @abc.abstractmethod
    async def _report(
        self, results: list[ReportedResult], now: float, watched: frozenset[str]
    ) -> list[ResultDecision]: ...

    async def report_and_claim(
        self,
        results: Sequence[ReportedResult],
        now: float,
        claim: ClaimWithReport,
        *,
        watched: Collection[str] = (),
    ) -> tuple[list[ResultDecision], list[Task]]:
        """`report_results`, then `claim_tasks` for `claim.after(decisions)`, in one
        transaction where the store does that well: a busy worker's slots then wait
        for one commit per cycle, not two. This default runs two transactions."""
        decisions = await self.report_results(results, now, watched=watched)
        return decisions, await self.claim_tasks(claim.after(decisions), now)

    @abc.abstractmethod
    async def requeue_expired(self, now: float, *, enforce_deadlines: bool = True) -> list[Task]:
        """The server's own enforcement of leases and deadlines, over RUNNING tasks:
        - deadline passed (started_at + timeout_s + policy.deadline_grace_s < now;
          never while `enforce_deadlines` is False, as when the server has just
          restarted and running tasks may have finished meanwhile): a failure of that
          attempt (outcome TIMED_OUT, error "deadline of {timeout_s}s passed (worker
          W)"): PENDING with attempt+1 and run_after = now + backoff while attempts
          remain, else FAILED; CANCELLED if cancellation was requested;
        - otherwise lease_expires_at < now: the worker vanished, so a reassignment
          (see "Taking a task back"; outcome EXPIRED, reason "lease expired (worker
          W)") with run_after = now + backoff.delay(attempt).
        Returns the tasks after the change."""

    @abc.abstractmethod
    async def reap_lost_workers(self, silent_since: float, now: float) -> LostWorkers:
        """Workers whose session last heartbeated before `silent_since` (the server
        passes now - 3 x heartbeat interval) are dead, in one transaction: their
        sessions are deleted (the next call with that token is an unknown session),
        the worker rows get status "offline" and session_token_hash NULL, and each
        of their RUNNING tasks is taken back (see "Taking a task back"; outcome LOST,
        reason "worker W went silent", run_after = now + backoff.delay(attempt))."""

    @abc.abstractmethod
    async def extend_running_leases(self, now: float) -> int:
        """At server start: every RUNNING lease ends no earlier than now +
        policy.lease_ttl_s, and every session counts as heard from at `now` at the
        earliest, so the server's own downtime never expires a lease or a live worker.
        Returns the number of leases changed."""

    @abc.abstractmethod
    async def cancel_task(self, task_id: str, user_id: str | None, now: float) -> Task | None:
        """PENDING -> CANCELLED at once; RUNNING -> cancel_requested (the worker is
        told in its next heartbeat reply); terminal tasks unchanged. Returns the
        task after the change, None when not found (for this user)."""

    @abc.abstractmethod
    async def running_tasks(self, worker_id: str) -> list[Task]: ...

    @abc.abstractmethod
    async def task_attempts(self, task_id: str) -> list[TaskAttempt]:
        """Every attempt record of the task, in attempt order (empty when unknown)."""

    async def get_task_detail(
        self, task_id: str, user_id: str | None = None
    ) -> tuple[Task, list[TaskAttempt]] | None:
        """The task (as `get_task` sees it) with its attempt records, in one read where
        the backend can: `GET /v1/tasks/{id}` answers from it."""
        task = await self.get_task(task_id, user_id)
        if task is None:
            return None
        return task, await self.task_attempts(task_id)

    async def get_task_details(
        self, task_ids: Sequence[str], user_id: str | None = None
    ) -> list[tuple[Task, list[TaskAttempt]]]:
        """`get_task_detail` of those of `task_ids` the caller may see, in the order
        given (the others left out), for `POST /v1/tasks/wait`. Backends that can read
        them together override this."""
        found = [await self.get_task_detail(task_id, user_id) for task_id in task_ids]
        return [detail for detail in found if detail is not None]

    async def task_statuses(
        self, task_ids: Sequence[str], user_id: str | None = None
    ) -> dict[str, TaskStatus]:
        """The status of those of `task_ids` the caller may see: `POST /v1/tasks/wait`
        reads in full only the finished ones. Backends that can read them together
        (without decoding payloads and results) override this."""
        return {task.id: task.status for task, _ in await self.get_task_details(task_ids, user_id)}

    @abc.abstractmethod
    async def pending_by_type(self) -> dict[str, int]:
        """Count of PENDING tasks per type, backoff or not, without cancel requested
        (for readiness: which queued types no connected worker can run)."""

    @abc.abstractmethod
    async def prune_finished(self, finished_before: float, limit: int) -> int:
        """Delete up to `limit` terminal tasks with completed_at < finished_before,
        oldest first, with their attempt records and idempotency keys, in one
        transaction; return how many tasks went (the caller repeats while it gets
        `limit`, so each transaction stays short)."""

    @abc.abstractmethod
    async def pending_count(
        self, types: Sequence[str] | None = None, *, now: float | None = None
    ) -> int:
        """PENDING tasks ready at `now` (the wall clock when None), of any type when
        types is None."""

    async def has_pending(self, types: Sequence[str], *, now: float) -> bool:
        """Whether any task of these types is ready at `now`: the dispatcher's idle poll,
        which needs one row, not a count of the whole queue. Stores override it with a
        query that stops at the first match."""
        return await self.pending_count(types, now=now) > 0

    # --- workers and sessions ---------------------------------------------------
    @abc.abstractmethod
    async def register_worker(
        self, info: WorkerInfo, session_token_hash: str, now: float, identity: str = ""
    ) -> bool:
        """Upsert the worker and replace its session (the old token stops working), in
        one transaction. False (nothing changed) when the worker has a live session
        opened by another identity: a credential cannot take over another's worker."""

    @abc.abstractmethod
    async def unfinished_count(self, user_id: str) -> int:
        """`user_id`'s PENDING and RUNNING tasks (the per-user queue cap)."""

    # --- worker credentials (englog workers create|list|revoke) ---------------------
    @abc.abstractmethod
    async def create_worker_credential(self, worker_id: str, token_hash: str, now: float) -> None:
        """Give `worker_id` a credential, replacing (and so revoking) any it had."""

    @abc.abstractmethod
    async def worker_for_credential(self, token_hash: str) -> str | None:
        """The worker id an unrevoked credential is bound to; None for any other."""

    @abc.abstractmethod
    async def has_worker_credential(self, worker_id: str) -> bool:
        """Whether `worker_id` has an unrevoked credential of its own."""

    @abc.abstractmethod
    async def list_worker_credentials(self) -> list[WorkerCredential]: ...

    @abc.abstractmethod
    async def revoke_worker_credential(self, worker_id: str, now: float) -> bool:
        """Revoke `worker_id`'s credential and end the sessions it opened; False when it
        had none unrevoked."""

    @abc.abstractmethod
    async def get_session(self, token_hash: str) -> Session | None: ...

    @abc.abstractmethod
    async def heartbeat_and_renew(self, beat: Heartbeat, now: float) -> HeartbeatReply | None:
        """Record the heartbeat of `beat`'s session and renew its worker's leases as
        `renew_leases` does (only `beat.task_ids` when given), in one transaction: a
        heartbeat is the most frequent write a worker makes. None (nothing renewed)
        when the session is unknown."""

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerRecord]: ...

    @abc.abstractmethod
    async def get_worker(self, worker_id: str) -> WorkerRecord | None: ...

    # --- the operators' overview ------------------------------------------------------
    @abc.abstractmethod
    async def task_counts(self) -> dict[tuple[str, str], int]:
        """(status, type) -> number of tasks, for the queue page's counts."""

    async def finished_per_minute(self, since: float, now: float) -> list[MinuteCount]:
        """Tasks that completed or failed in each minute from `since` to `now`, oldest
        first, every minute present (a quiet one counts zero): the throughput chart."""
        found = await self._finished_by_minute(since, now)
        minutes = max(0, math.ceil((now - since) / 60))
        return [
            MinuteCount(since + 60 * i, found.get((i, "completed"), 0), found.get((i, "failed"), 0))
            for i in range(minutes)
        ]

    @abc.abstractmethod
    async def _finished_by_minute(self, since: float, now: float) -> dict[tuple[int, str], int]:
        """(minutes since `since`, "completed" or "failed") -> count, over [since, now)."""

    # --- web sessions (the browser's sign-in) -------------------------------------------
    @abc.abstractmethod
    async def create_web_session(self, session: WebSession) -> None: ...

    @abc.abstractmethod
    async def get_web_session(self, id_hash: str, now: float) -> WebSession | None:
        """The session, unless it is unknown, signed out or expired at `now`."""

    @abc.abstractmethod
    async def delete_web_session(self, id_hash: str) -> bool:
        """Sign out: whether there was such a session."""

    @abc.abstractmethod
    async def prune_web_sessions(self, now: float) -> int:
        """Delete the sessions expired at `now`; returns how many went."""

    # --- operations -------------------------------------------------------------------
    async def size_bytes(self) -> int | None:
        """The database's size on disk (the englog_database_size_bytes gauge and its
        growth alert); None where the backend cannot tell."""
        return None
