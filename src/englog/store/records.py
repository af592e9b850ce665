"""The values the `Store` takes and returns besides domain objects: users, workers and
their sessions, queries and claims."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from englog.domain.attempts import TaskRow
from englog.domain.tasks import Disposition, NewTask, ResultDecision, Task, TaskStatus

ROLES = ("member", "operator", "admin")


@dataclass(frozen=True, slots=True)
class User:
    """An account. `role`: member (own entries), operator (also the queue and workers),
    admin (also manages accounts). A disabled account is refused everywhere."""

    id: str
    name: str
    created_at: float
    email: str | None = None
    role: str = "member"
    disabled: bool = False
    has_password: bool = False

    @property
    def operates(self) -> bool:
        return self.role in ("operator", "admin")


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What `Store.create_account` inserts; `token_hash` (optional) becomes a first API
    token named `token_name`."""

    name: str
    password_hash: str | None = None
    email: str | None = None
    role: str = "member"
    token_hash: str | None = None
    token_name: str = "first"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A personal access token as its owner sees it (never the token itself)."""

    id: str
    user_id: str
    name: str
    kind: str  # "api" or "web" (the token behind a password sign-in)
    created_at: float
    last_used_at: float | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Who a live token belongs to, and which token it is (for last-used stamps)."""

    user: User
    token: ApiToken


@dataclass(frozen=True, slots=True)
class UserSettings:
    """A person's own calendar: the zone their days are in and the day a week starts."""

    timezone: str | None = None  # None until set; read as UTC
    week_start: str = "monday"
    weekly_target_hours: float | None = None  # None: no target
    focus_target: float | None = None  # share of focus work aimed at, 0..1

    @property
    def zone_name(self) -> str:
        return self.timezone or "UTC"


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
    # Who opened it: "shared" (a shared worker token), "worker:<id>" (that worker's own
    # credential), "" before identities were recorded.
    identity: str = ""


@dataclass(frozen=True, slots=True)
class WorkerCredential:
    """A worker's own credential (`englog workers create`), its token kept as a hash."""

    worker_id: str
    created_at: float
    revoked_at: float | None


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
    # RUNNING tasks one user may hold (QueuePolicy.max_running_per_user); 0: no cap.
    user_cap: int = 0

    def capped(self, user_cap: int) -> Claim:
        """The same claim under a store's per-user cap (its policy's)."""
        return Claim(self.worker_id, dict(self.capacity), self.limit, user_cap)

    def fits(self, tasks: Sequence[NewTask]) -> bool:
        """Could this claim take all of `tasks` (its limit and each type's capacity)?
        Then, when nothing claimable of their types waits, inserting them already
        leased is what an insert followed by this claim would do (`submit_and_claim`)."""
        if len(tasks) > self.limit:
            return False
        if self.user_cap and any(t.user_id is not None for t in tasks):
            return False  # the user's running count decides: the claim's to check
        wanted: dict[str, int] = {}
        for task in tasks:
            wanted[task.type] = wanted.get(task.type, 0) + 1
        return all(n <= int(self.capacity.get(t, 0)) for t, n in wanted.items())


@dataclass(frozen=True, slots=True)
class ClaimWithReport:
    """A claim made with a worker's result report (`Store.report_and_claim`), so the
    slots the report frees are filled by the commit that frees them. `claim.limit` is
    the slots free before the report; each accepted result among `freeing` (the tasks
    whose slots the claiming stream holds) frees one more. `claim.capacity` caps each
    type, counting those already."""

    claim: Claim
    freeing: frozenset[str]

    def after(self, decisions: Sequence[ResultDecision]) -> Claim:
        """The claim as the report's decisions leave it."""
        freed = sum(
            1
            for d in decisions
            if d.disposition is Disposition.ACCEPTED and d.task_id in self.freeing
        )
        return dataclasses.replace(self.claim, limit=self.claim.limit + freed)


@dataclass(frozen=True, slots=True)
class KeyedTask:
    """A submission under an idempotency key (`Store.submit_keyed`): the key in the
    task's user's scope and the fingerprint of the request that carried it."""

    task: NewTask
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Lease:
    """Tasks inserted already RUNNING (`Store.submit_and_claim`) are leased to this
    worker until `expires_at`."""

    worker_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Which tasks `Store.list_tasks` lists (None matches any), newest first."""

    user_id: str | None = None
    status: TaskStatus | None = None
    type: str | None = None
    limit: int = 100
    offset: int = 0

    def filters(self) -> dict[str, str]:
        """The columns the listed tasks must equal, with their values."""
        wanted = {"user_id": self.user_id, "status": self.status, "type": self.type}
        return {column: str(value) for column, value in wanted.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One heartbeat of a worker session (`Store.heartbeat_and_renew`): the session
    token's hash, the worker's status, stats and free capacity per task type, and the
    tasks it still runs, whose leases are renewed (None: all the worker's)."""

    token_hash: str
    status: str
    stats: Mapping[str, Any]
    capacity: Mapping[str, int]
    task_ids: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """Progress of one attempt (`Store.update_progress`), percent already in 0..100."""

    task_id: str
    attempt: int
    worker_id: str
    percent: float
    message: str | None


@dataclass(frozen=True, slots=True)
class LostDeliveries:
    """Tasks leased to a worker that never reached it (`Store.requeue_tasks`)."""

    worker_id: str
    task_ids: list[str]
    reason: str
    attempts: Mapping[str, int] | None = None  # the fence: task id -> attempt sent

    def still_current(self, row: TaskRow) -> bool:
        """Is the RUNNING task `row` still at the attempt that was lost? A newer
        delivery of it to the same worker is not ours to take back."""
        return self.attempts is None or self.attempts.get(row["id"]) == row["attempt"]


@dataclass(frozen=True, slots=True)
class WebSession:
    """A browser's signed-in session: only hashes are kept (of the cookie's session id
    and of the API token it was opened with), so a copy of the database lets no one in."""

    id_hash: str
    token_hash: str
    csrf: str
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class MinuteCount:
    """Tasks finished in the minute starting at `start` (`Store.finished_per_minute`)."""

    start: float
    completed: int
    failed: int
