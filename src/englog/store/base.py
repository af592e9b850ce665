"""The `Store` interface: everything the server persists, behind one abstract class
so SQLite (default) and PostgreSQL (several replicas) are interchangeable.

Rules every implementation keeps:
- every method that changes state has committed before it returns (durability
  before acknowledgement);
- task state changes are fenced: they name the attempt (and worker) they apply to
  and do nothing when the task has moved on;
- times are unix seconds (float) passed in by the caller, so tests control the clock;
- secrets (API tokens, session tokens) are stored only as hashes, computed by the caller.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from englog.domain.entries import Entry, EntryFields
from englog.domain.tasks import (
    DEFAULT_MAX_REASSIGNMENTS,
    NewTask,
    ReportedResult,
    ResultDecision,
    RetryBackoff,
    Task,
    TaskAttempt,
    TaskStatus,
)

# A RUNNING task whose deadline (started_at + timeout_s) passed this long ago is ended
# by the server: the worker cancels at the deadline and needs a moment to report.
DEFAULT_DEADLINE_GRACE_S = 30.0


class StoreError(Exception):
    """Base of store errors; backend exceptions are translated into these."""


class StoreClosed(StoreError):
    """The store was used after close()."""


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key was used again, within its lifetime, for a different request.
    Not a StoreError: nothing is wrong with the store; the caller gets a 422."""

    def __init__(self, key: str, task_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request (task {task_id})"
        )
        self.key = key
        self.task_id = task_id


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What a worker says about itself when it registers."""

    id: str
    name: str
    capabilities: tuple[str, ...]
    version: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    max_concurrency: int = 1


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker as the store knows it, with its current session (if any)."""

    info: WorkerInfo
    registered_at: float
    last_heartbeat_at: float | None
    status: str  # "ready", "draining", "offline"
    stats: Mapping[str, Any]
    capacity: Mapping[str, int]
    session_token_hash: str | None


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    worker_id: str
    created_at: float
    last_heartbeat_at: float


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    session: Session
    cancel_task_ids: list[str]  # the worker's tasks whose cancellation was requested


@dataclass(frozen=True, slots=True)
class LostWorkers:
    """What `reap_lost_workers` did: the workers now offline (sessions deleted) and
    their tasks after being taken back."""

    worker_ids: list[str]
    tasks: list[Task]


@dataclass(frozen=True, slots=True)
class EntryQuery:
    start: datetime | None = None  # entries ending after this
    end: datetime | None = None  # entries starting before this
    type: str | None = None
    project: str | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim on behalf of one worker stream, as `Store.claim_tasks` takes it."""

    worker_id: str
    capacity: Mapping[str, int]
    limit: int
    lease_ttl_s: float


class Store(abc.ABC):
    """Persistence for users, entries, tasks, workers and sessions."""

    # --- life cycle -----------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending schema migrations."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release connections; idempotent."""

    def add_task_listener(self, callback: Callable[[], None]) -> None:  # noqa: B027
        """Have `callback` called (on the event loop) when another process sharing the
        database, such as a server replica, makes tasks claimable. This process's own
        submissions and requeues are announced by its callers, so a backend that only
        one process can use has nothing to report and ignores the callback."""

    # --- users ----------------------------------------------------------------
    @abc.abstractmethod
    async def create_user(self, name: str, token_hash: str, now: float) -> User: ...

    @abc.abstractmethod
    async def user_by_token_hash(self, token_hash: str) -> User | None: ...

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

    @abc.abstractmethod
    async def get_task(self, task_id: str, user_id: str | None = None) -> Task | None:
        """user_id None means any user (admin); otherwise only that user's task."""

    @abc.abstractmethod
    async def list_tasks(
        self,
        user_id: str | None,
        status: TaskStatus | None = None,
        type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Task]:
        """Newest first."""

    @abc.abstractmethod
    async def claim_tasks(
        self,
        worker_id: str,
        capacity: Mapping[str, int],
        limit: int,
        lease_ttl_s: float,
        now: float,
    ) -> list[Task]:
        """Lease up to `limit` PENDING tasks whose type has capacity > 0 (at most
        capacity[type] of each) and whose run_after <= now: highest priority first,
        FIFO within a priority. They become RUNNING for `worker_id` with
        lease_expires_at = now + lease_ttl_s; started_at is set. Each claim opens an
        attempt record (task_id, attempt, worker_id, started_at = now; outcome None)."""

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
        claimed = await self.claim_tasks(
            claim.worker_id, claim.capacity, claim.limit, claim.lease_ttl_s, now
        )
        return stored, claimed

    @abc.abstractmethod
    async def renew_leases(
        self,
        worker_id: str,
        lease_ttl_s: float,
        now: float,
        task_ids: Sequence[str] | None = None,
    ) -> list[str]:
        """Extend the leases of the tasks RUNNING for the worker (only those in
        `task_ids` when given: the ones it says it still runs); return the ids of
        those among them whose cancellation was requested."""

    @abc.abstractmethod
    async def requeue_tasks(
        self,
        worker_id: str,
        task_ids: Sequence[str],
        reason: str,
        now: float,
        *,
        max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
        attempts: Mapping[str, int] | None = None,
    ) -> list[Task]:
        """The worker's RUNNING tasks among `task_ids` never reached it (lost in
        transit). Each is a reassignment (see "Taking a task back" below) with no
        delay (run_after = now). Fenced: with `attempts` (task id -> attempt), a task
        is taken back only while it still runs that attempt, so a newer delivery of
        it to the same worker is never undone. Returns the changed tasks."""

    # Taking a task back from a worker ("reassignment"), shared by requeue_tasks,
    # requeue_expired (lease expiry) and reap_lost_workers, fenced on the task being
    # RUNNING at the attempt read in the same transaction:
    # - cancel_requested: -> CANCELLED (nobody wants another attempt);
    # - reassignments < max_reassignments: -> PENDING, attempt + 1, reassignments + 1,
    #   error = reason; max_attempts is untouched, and since retries are counted as
    #   attempt - reassignments this does not use one up;
    # - otherwise -> FAILED, error = f"{reason}; taken back from its worker
    #   {reassignments} times (reassignment cap {max_reassignments})".
    # The attempt record ends with outcome LOST (requeue_tasks, reap_lost_workers)
    # or EXPIRED (requeue_expired) and error = reason.

    @abc.abstractmethod
    async def update_progress(
        self,
        task_id: str,
        attempt: int,
        worker_id: str,
        percent: float,
        message: str | None,
        lease_ttl_s: float,
        now: float,
    ) -> bool:
        """Record progress and renew that lease if the attempt is current."""

    @abc.abstractmethod
    async def report_results(
        self,
        results: Sequence[ReportedResult],
        backoff: RetryBackoff,
        now: float,
        *,
        watched: Collection[str] = (),
    ) -> list[ResultDecision]:
        """Fenced, idempotent results, all in one transaction, one decision each:
        ACCEPTED when the task is RUNNING with that attempt and worker (COMPLETED;
        FAILED, or PENDING with attempt+1 and run_after = now + backoff when
        retriable and attempts remain, i.e. attempt - reassignments < max_attempts;
        CANCELLED); DUPLICATE when that same attempt's result was already accepted;
        STALE otherwise; UNKNOWN_TASK when there is no such task. An accepted result
        ends its attempt record with the reported outcome (completed, failed or
        cancelled) and error. The decision of an accepted result that finishes a task
        named in `watched` carries the task and its attempts as committed (`final`),
        read in the same transaction: requests waiting on it answer without a read."""

    @abc.abstractmethod
    async def requeue_expired(
        self,
        backoff: RetryBackoff,
        now: float,
        *,
        max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
        deadline_grace_s: float = DEFAULT_DEADLINE_GRACE_S,
    ) -> list[Task]:
        """The server's own enforcement of leases and deadlines, over RUNNING tasks:
        - deadline passed (started_at + timeout_s + deadline_grace_s < now): a failure
          of that attempt (outcome TIMED_OUT, error "deadline of {timeout_s}s passed
          (worker W)"): PENDING with attempt+1 and run_after = now + backoff while
          attempts remain, else FAILED; CANCELLED if cancellation was requested;
        - otherwise lease_expires_at < now: the worker vanished, so a reassignment
          (see "Taking a task back"; outcome EXPIRED, reason "lease expired (worker
          W)") with run_after = now + backoff.delay(attempt).
        Returns the tasks after the change."""

    @abc.abstractmethod
    async def reap_lost_workers(
        self,
        silent_since: float,
        backoff: RetryBackoff,
        now: float,
        *,
        max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
    ) -> LostWorkers:
        """Workers whose session last heartbeated before `silent_since` (the server
        passes now - 3 x heartbeat interval) are dead, in one transaction: their
        sessions are deleted (the next call with that token is an unknown session),
        the worker rows get status "offline" and session_token_hash NULL, and each
        of their RUNNING tasks is taken back (see "Taking a task back"; outcome LOST,
        reason "worker W went silent", run_after = now + backoff.delay(attempt))."""

    @abc.abstractmethod
    async def extend_running_leases(self, lease_ttl_s: float, now: float) -> int:
        """At server start: every RUNNING lease ends no earlier than now + ttl, and
        every session counts as heard from at `now` at the earliest, so the server's
        own downtime never expires a lease or a live worker. Returns the number of
        leases changed."""

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
    async def register_worker(self, info: WorkerInfo, session_token_hash: str, now: float) -> None:
        """Upsert the worker and replace its session (the old token stops working)."""

    @abc.abstractmethod
    async def get_session(self, token_hash: str) -> Session | None: ...

    @abc.abstractmethod
    async def heartbeat(
        self,
        token_hash: str,
        status: str,
        stats: Mapping[str, Any],
        capacity: Mapping[str, int],
        now: float,
    ) -> Session | None:
        """Record a heartbeat; None when the session is unknown."""

    async def heartbeat_and_renew(
        self,
        token_hash: str,
        status: str,
        stats: Mapping[str, Any],
        capacity: Mapping[str, int],
        lease_ttl_s: float,
        now: float,
        task_ids: Sequence[str] | None = None,
    ) -> HeartbeatReply | None:
        """`heartbeat` then `renew_leases` for the session's worker; None (nothing
        renewed) when the session is unknown. This default makes two writes; a backend
        may override it to make one transaction of both."""
        session = await self.heartbeat(token_hash, status, stats, capacity, now)
        if session is None:
            return None
        cancel = await self.renew_leases(session.worker_id, lease_ttl_s, now, task_ids)
        return HeartbeatReply(session, cancel)

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerRecord]: ...

    @abc.abstractmethod
    async def get_worker(self, worker_id: str) -> WorkerRecord | None: ...
