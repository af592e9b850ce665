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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from englog.domain.entries import Entry, EntryFields
from englog.domain.tasks import (
    NewTask,
    ReportedResult,
    ResultDecision,
    RetryBackoff,
    Task,
    TaskStatus,
)


class StoreError(Exception):
    """Base of store errors; backend exceptions are translated into these."""


class StoreClosed(StoreError):
    """The store was used after close()."""


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
class EntryQuery:
    start: datetime | None = None  # entries ending after this
    end: datetime | None = None  # entries starting before this
    type: str | None = None
    project: str | None = None
    limit: int = 100
    offset: int = 0


class Store(abc.ABC):
    """Persistence for users, entries, tasks, workers and sessions."""

    # --- life cycle -----------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending schema migrations."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release connections; idempotent."""

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
        lease_expires_at = now + lease_ttl_s; started_at is set."""

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
    ) -> list[Task]:
        """The worker's RUNNING tasks among `task_ids` never reached it (lost in
        transit): back to PENDING at once with attempt+1, without using up one of
        the task's attempts (CANCELLED if cancellation was requested)."""

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
        self, results: Sequence[ReportedResult], backoff: RetryBackoff, now: float
    ) -> list[ResultDecision]:
        """Fenced, idempotent results, all in one transaction, one decision each:
        ACCEPTED when the task is RUNNING with that attempt and worker (COMPLETED;
        FAILED, or PENDING with attempt+1 and run_after = now + backoff when
        retriable and attempts remain; CANCELLED); DUPLICATE when that same
        attempt's result was already accepted; STALE otherwise; UNKNOWN_TASK when
        there is no such task."""

    @abc.abstractmethod
    async def requeue_expired(self, backoff: RetryBackoff, now: float) -> list[Task]:
        """Tasks RUNNING with lease_expires_at < now go back to PENDING with
        attempt+1 (run_after = now + backoff), or to FAILED when attempts are
        exhausted; returns the tasks after the change."""

    @abc.abstractmethod
    async def extend_running_leases(self, lease_ttl_s: float, now: float) -> int:
        """At server start: every RUNNING lease ends no earlier than now + ttl."""

    @abc.abstractmethod
    async def cancel_task(self, task_id: str, user_id: str | None, now: float) -> Task | None:
        """PENDING -> CANCELLED at once; RUNNING -> cancel_requested (the worker is
        told in its next heartbeat reply); terminal tasks unchanged. Returns the
        task after the change, None when not found (for this user)."""

    @abc.abstractmethod
    async def running_tasks(self, worker_id: str) -> list[Task]: ...

    @abc.abstractmethod
    async def pending_count(
        self, types: Sequence[str] | None = None, *, now: float | None = None
    ) -> int:
        """PENDING tasks ready at `now` (the wall clock when None), of any type when
        types is None."""

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

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerRecord]: ...

    @abc.abstractmethod
    async def get_worker(self, worker_id: str) -> WorkerRecord | None: ...
