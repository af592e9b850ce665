"""`Client`: the synchronous englog client (entries, tasks, insights, reports), safe to
share between threads (httpx's API over `LeanTransport`, one connection per thread)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar, overload

import httpx

from englog import __version__
from englog.client import _calls
from englog.client._calls import DEFAULT_RETRY, Call, RetryPolicy
from englog.client._waiting import Deadline, WaitSet, is_missing_route, outcome
from englog.client.config import Settings, resolve
from englog.client.errors import ApiError, ClientError, ConfigError
from englog.client.models import (
    Entry,
    Insight,
    TaskAccepted,
    TaskDetail,
    TaskList,
    TaskStatus,
    TaskView,
    WeeklyReport,
    WorkerView,
)
from englog.client.periods import as_week
from englog.client.transport import LeanTransport

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_TIMEOUT_S = 15.0
NOT_LOGGED_IN = "no API token: run `englog login --url URL --token TOKEN` or set ENGLOG_TOKEN"
TaskItem = tuple[str, Mapping[str, Any]] | Mapping[str, Any]
DateLike = datetime | date
WeekLike = str | date | tuple[date, date] | None


def _any(value: Any) -> Any:
    return value


def connection(settings: Settings, timeout: float) -> dict[str, Any]:
    """httpx client arguments both clients share."""
    if not settings.token:
        raise ConfigError(NOT_LOGGED_IN)
    headers = {
        "Authorization": f"Bearer {settings.token}",
        "User-Agent": f"englog-client/{__version__}",
    }
    return {"base_url": settings.url, "headers": headers, "timeout": timeout}


class TaskHandle(Generic[R]):
    """A submitted task: `.status()`, `.wait(timeout)`, `.result(timeout)`, `.cancel()`.
    `last` is the task as last seen (None until read)."""

    def __init__(
        self,
        client: Client,
        task_id: str,
        parse: Any = _any,
        last: TaskDetail | None = None,
    ) -> None:
        self.client = client
        self.id = task_id
        self.parse = parse
        self.last = last

    def __repr__(self) -> str:
        return f"TaskHandle({self.id!r})"

    def refresh(self) -> TaskDetail:
        self.last = self.client.send(_calls.get_task(self.id))
        return self.last

    def status(self) -> TaskStatus:
        return self.refresh().status

    def wait(self, timeout: float | None = None) -> TaskDetail:
        """The task once finished, by long polls; Timeout if it is not by then."""
        deadline = Deadline(timeout)
        while self.last is None or not self.last.finished:
            if deadline.passed:
                raise deadline.timed_out(f"task {self.id}", [self.id])
            self.last = self.client.send(_calls.get_task(self.id, deadline.poll_for()))
        return self.last

    def result(self, timeout: float | None = None) -> R:
        """The typed result; TaskFailed / TaskCancelled when it ended without one."""
        parsed: R = outcome(self.wait(timeout), self.parse)
        return parsed

    def cancel(self) -> TaskView:
        return self.client.send(_calls.cancel_task(self.id))


class Client:
    """englog's REST API for programs. `url` and `token` default to ENGLOG_URL /
    ENGLOG_TOKEN, then to the file `englog login` saved. Use as a context manager, or
    call `close()`. Safe to share between threads (one connection per thread, see
    `LeanTransport`; `transport` replaces it, e.g. with httpx.MockTransport in tests)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = resolve(url, token)
        self.url = self.settings.url
        self.timeout = timeout
        self.retry = retry
        self._http = httpx.Client(
            **connection(self.settings, timeout), transport=transport or LeanTransport()
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send one call, retried per `retry` where that is safe (see Call.resend)."""
        failures, started = 0, time.monotonic()
        while True:
            try:
                try:
                    response = self._http.request(
                        call.method, call.path, **call.options(self.timeout)
                    )
                except httpx.HTTPError as exc:
                    raise _calls.transport_error(exc, self.url) from exc
                return call.parse(response)
            except ClientError as exc:
                failures += 1
                spent = time.monotonic() - started
                delay = _calls.retry_delay(self.retry, call, exc, failures, spent)
                if delay is None:
                    raise
            time.sleep(delay)

    # --- entries --------------------------------------------------------------------------
    def log(
        self,
        title: str,
        *,
        start: datetime,
        end: datetime,
        type: str = "development",
        project: str | None = None,
        tags: Sequence[str] = (),
        description: str | None = None,
        value_rating: str = "medium",
        impact_level: str = "personal",
    ) -> Entry:
        """Store one activity entry (naive times are local)."""
        fields = {k: v for k, v in locals().items() if k != "self"}
        fields.update(start_time=fields.pop("start"), end_time=fields.pop("end"))
        fields["tags"] = list(tags)
        return self.send(_calls.create_entry(_calls.entry_body(fields)))

    def log_many(self, entries: Iterable[Mapping[str, Any]]) -> list[Entry]:
        """Store many entries, 1,000 per request (each request all or nothing)."""
        bodies = [_calls.entry_body(e) for e in entries]
        stored: list[Entry] = []
        for first in range(0, len(bodies), _calls.MAX_PAGE):
            chunk = bodies[first : first + _calls.MAX_PAGE]
            stored.extend(self.send(_calls.bulk_entries(chunk)))
        return stored

    def entries(
        self,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        *,
        project: str | None = None,
        type: str | None = None,
    ) -> Iterator[Entry]:
        """Entries overlapping [start, end), oldest first, every page."""
        offset = 0
        while True:
            page = self.send(_calls.entry_page(start, end, project, type, offset))
            yield from page
            if len(page) < _calls.MAX_PAGE:
                return
            offset += len(page)

    def entry(self, entry_id: str) -> Entry:
        return self.send(_calls.get_entry(entry_id))

    def update_entry(self, entry_id: str, **changes: Any) -> Entry:
        """Change some fields; the times are checked against the stored ones."""
        return self.send(_calls.patch_entry(entry_id, changes))

    def delete_entry(self, entry_id: str) -> None:
        self.send(_calls.delete_entry(entry_id))

    # --- tasks ----------------------------------------------------------------------------
    def submit(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
        wait: float = 0.0,
    ) -> TaskHandle[Any]:
        """Submit a task. A key is made up when none is given, so a resent request
        never makes a second task. `wait` > 0 asks the server to hold the answer until
        the task finishes (at most 30 s); the handle then already knows it."""
        body = _calls.task_body(type, payload, priority, max_attempts, timeout_s)
        return self._submit("/v1/tasks", body, idempotency_key, wait, _any)

    def _submit(
        self, path: str, body: dict[str, Any], key: str | None, wait: float, parse: Any
    ) -> TaskHandle[Any]:
        answer = self.send(_calls.submit(path, body, key, wait))
        last = answer if isinstance(answer, TaskDetail) else None
        return TaskHandle(self, answer.task_id, parse, last)

    def submit_many(
        self, items: Iterable[TaskItem], *, idempotency_key: str | None = None
    ) -> list[TaskHandle[Any]]:
        """Submit through the batch route, 1,000 per request (each all or nothing);
        items are `(type, payload)` pairs or dicts shaped like the route's items."""
        bodies = _calls.batch_items(items)
        chunks = -(-len(bodies) // _calls.MAX_PAGE)
        handles: list[TaskHandle[Any]] = []
        for first in range(0, len(bodies), _calls.MAX_PAGE):
            chunk = bodies[first : first + _calls.MAX_PAGE]
            key = _calls.chunk_key(idempotency_key, first // _calls.MAX_PAGE, chunks)
            accepted: list[TaskAccepted] = self.send(_calls.submit_batch(chunk, key))
            handles.extend(TaskHandle(self, a.task_id) for a in accepted)
        return handles

    def task(self, task_id: str) -> TaskHandle[Any]:
        """A handle on an existing task."""
        return TaskHandle(self, task_id)

    def tasks(
        self, status: str | None = None, type: str | None = None, limit: int = 100, offset: int = 0
    ) -> TaskList:
        """Your tasks (every user's for the admin), newest first."""
        return self.send(_calls.list_tasks(status, type, limit, offset))

    def wait_all(
        self, handles: Iterable[TaskHandle[Any] | str], timeout: float | None = None
    ) -> Iterator[TaskDetail]:
        """Yield each task as it finishes, asking about up to 1,000 per request
        (`POST /v1/tasks/wait`); Timeout names those still running at `timeout`."""
        waiting = WaitSet(h if isinstance(h, str) else h.id for h in handles)
        deadline = Deadline(timeout)
        while waiting:
            if deadline.passed:
                raise deadline.timed_out(f"{len(waiting.pending)} task(s)", waiting.pending)
            try:
                answer = self.send(waiting.next_call(deadline))
            except ApiError as exc:
                if not is_missing_route(exc):
                    raise
                waiting.restore()
                yield from self._poll_each(waiting, deadline)
                return
            yield from waiting.take(answer)
            waiting.check_missing()

    def _poll_each(self, waiting: WaitSet, deadline: Deadline) -> Iterator[TaskDetail]:
        """For servers without the wait route: one long poll per task, in turn."""
        for task_id in list(waiting.pending):
            yield TaskHandle(self, task_id).wait(deadline.left())
            waiting.pending.popleft()

    # --- insights and reports -------------------------------------------------------------
    @overload
    def insight(
        self,
        insight_type: str,
        start: DateLike | None = ...,
        end: DateLike | None = ...,
        *,
        entry_ids: Sequence[str] | None = ...,
        context: str | None = ...,
        priority: int = ...,
        wait: Literal[False] = ...,
        timeout: float | None = ...,
        idempotency_key: str | None = ...,
    ) -> TaskHandle[Insight]: ...

    @overload
    def insight(
        self,
        insight_type: str,
        start: DateLike | None = ...,
        end: DateLike | None = ...,
        *,
        entry_ids: Sequence[str] | None = ...,
        context: str | None = ...,
        priority: int = ...,
        wait: Literal[True],
        timeout: float | None = ...,
        idempotency_key: str | None = ...,
    ) -> Insight: ...

    def insight(
        self,
        insight_type: str,
        start: DateLike | None = None,
        end: DateLike | None = None,
        *,
        entry_ids: Sequence[str] | None = None,
        context: str | None = None,
        priority: int = 0,
        wait: bool = False,
        timeout: float | None = 300.0,
        idempotency_key: str | None = None,
    ) -> Any:
        """An insight over the entries in [start, end) (dates: whole days, end day
        included) or `entry_ids`. With `wait`, the `Insight` itself; else the handle."""
        body = _calls.insight_body(insight_type, start, end, entry_ids, context, priority)
        handle = self._submit(
            "/v1/tasks/insights", body, idempotency_key, _prefer(wait, timeout), _as(Insight)
        )
        return handle.result(timeout) if wait else handle

    @overload
    def report(
        self,
        week: WeekLike = ...,
        *,
        priority: int = ...,
        wait: Literal[False] = ...,
        timeout: float | None = ...,
        idempotency_key: str | None = ...,
    ) -> TaskHandle[WeeklyReport]: ...

    @overload
    def report(
        self,
        week: WeekLike = ...,
        *,
        priority: int = ...,
        wait: Literal[True],
        timeout: float | None = ...,
        idempotency_key: str | None = ...,
    ) -> WeeklyReport: ...

    def report(
        self,
        week: WeekLike = None,
        *,
        priority: int = 0,
        wait: bool = False,
        timeout: float | None = 300.0,
        idempotency_key: str | None = None,
    ) -> Any:
        """A weekly report for `2026-W48`, a date in the week, (start, end), or this
        week. With `wait`, the `WeeklyReport` itself; else the handle."""
        body = _calls.report_body(*as_week(week), priority)
        handle = self._submit(
            "/v1/tasks/reports", body, idempotency_key, _prefer(wait, timeout), _as(WeeklyReport)
        )
        return handle.result(timeout) if wait else handle

    # --- operations -----------------------------------------------------------------------
    def workers(self) -> list[WorkerView]:
        """Registered workers (admin token)."""
        return self.send(_calls.list_workers())


def _prefer(wait: bool, timeout: float | None) -> float:
    """Seconds of `Prefer: wait` for a submission the caller will wait for."""
    if not wait:
        return 0.0
    return _calls.MAX_WAIT_S if timeout is None else min(timeout, _calls.MAX_WAIT_S)


def _as(model: type[Insight] | type[WeeklyReport]) -> Any:
    return model.model_validate
