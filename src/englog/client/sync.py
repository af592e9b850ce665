"""`Client`: the synchronous englog client (entries, tasks, insights, reports), safe to
share between threads (httpx's API over `LeanTransport`, one connection per thread)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar, cast, overload

import httpx

from englog import __version__
from englog.client import _calls, daily
from englog.client._calls import Call
from englog.client._people import PeopleCalls
from englog.client._retry import DEFAULT_RETRY, Attempts, RetryPolicy
from englog.client._waiting import Deadline, WaitSet, next_poll, outcome
from englog.client.coalesce import CoalescePolicy, Coalescer
from englog.client.config import resolve
from englog.client.errors import ApiError, ClientError, ConfigError
from englog.client.models import (
    Entry,
    Insight,
    Me,
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
C = TypeVar("C")
X = TypeVar("X")  # an httpx transport
H = TypeVar("H")  # an httpx client
DEFAULT_TIMEOUT_S = 15.0
# On by default: with no linger a lone submitter is sent at once, and groups form only
# from submissions that arrive while one is in flight (docs/benchmarks.md, "Coalescing").
DEFAULT_COALESCE = CoalescePolicy()
NOT_LOGGED_IN = "no API token: run `englog login --url URL --token TOKEN` or set ENGLOG_TOKEN"
TaskItem = tuple[str, Mapping[str, Any]] | Mapping[str, Any]
DateLike = datetime | date
WeekLike = str | date | tuple[date, date] | None


def _any(value: Any) -> Any:
    return value


class ClientBase(ABC, Generic[X, H]):
    """What both clients hold: the resolved settings, the timeout of one request, the
    retry policy, and their httpx client (`_open`, over `transport`)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: X | None = None,
    ) -> None:
        self.settings = resolve(url, token)
        self.url = self.settings.url
        self.timeout = timeout
        self.retry = retry
        self._http = self._open(self._connection(), transport)

    def _connection(self) -> dict[str, Any]:
        """httpx client arguments both clients share."""
        if not self.settings.token:
            raise ConfigError(NOT_LOGGED_IN)
        headers = {
            "Authorization": f"Bearer {self.settings.token}",
            "User-Agent": f"englog-client/{__version__}",
        }
        return {"base_url": self.settings.url, "headers": headers, "timeout": self.timeout}

    @abstractmethod
    def _open(self, options: dict[str, Any], transport: X | None) -> H:
        """The httpx client, sync or async."""


class Handle(Generic[C, R]):
    """What a task handle holds, sync or async: its client, the task id, how to read the
    result (`parse`) and `last`, the task as last seen (None until read)."""

    def __init__(
        self, client: C, task_id: str, parse: Any = _any, last: TaskDetail | None = None
    ) -> None:
        self.client = client
        self.id = task_id
        self.parse = parse
        self.last = last

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"


class TaskHandle(Handle["Client", R]):
    """A submitted task: `.status()`, `.wait(timeout)`, `.result(timeout)`, `.cancel()`.
    `last` is the task as last seen (None until read)."""

    def refresh(self) -> TaskDetail:
        self.last = self.client.send(_calls.get_task(self.id))
        return self.last

    def status(self) -> TaskStatus:
        return self.refresh().status

    def wait(self, timeout: float | None = None) -> TaskDetail:
        """The task once finished, by long polls; Timeout if it is not by then."""
        deadline = Deadline(timeout)
        while call := next_poll(self.id, self.last, deadline):
            self.last = self.client.send(call)
        return cast(TaskDetail, self.last)  # next_poll ends only on a finished task

    def result(self, timeout: float | None = None) -> R:
        """The typed result; TaskFailed / TaskCancelled when it ended without one."""
        parsed: R = outcome(self.wait(timeout), self.parse)
        return parsed

    def cancel(self) -> TaskView:
        return self.client.send(_calls.cancel_task(self.id))

    def retry(self) -> TaskHandle[R]:
        """Run this failed or cancelled task again: the new task's handle (Conflict
        while it is pending, running or completed)."""
        again = self.client.send(_calls.retry_task(self.id))
        return TaskHandle(self.client, again.task_id, self.parse)


class Client(PeopleCalls, ClientBase[httpx.BaseTransport, httpx.Client]):
    """englog's REST API for programs. `url` and `token` default to ENGLOG_URL /
    ENGLOG_TOKEN, then to the file `englog login` saved. Use as a context manager, or
    call `close()`. Safe to share between threads (one connection per thread, see
    `LeanTransport`; `transport` replaces it, e.g. with httpx.MockTransport in tests).
    `submit` calls from several threads at once are sent together (`coalesce`)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
        coalesce: CoalescePolicy | None = DEFAULT_COALESCE,
    ) -> None:
        """`coalesce`: how `submit` calls from many threads are grouped into batch
        requests (see `englog.client.coalesce`); None sends each one alone."""
        super().__init__(url, token, timeout=timeout, retry=retry, transport=transport)
        self.coalescer = None if coalesce is None else Coalescer(coalesce, self.send)

    def _open(self, options: dict[str, Any], transport: httpx.BaseTransport | None) -> httpx.Client:
        return httpx.Client(**options, transport=transport or LeanTransport())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send one call, retried per `retry` where that is safe (see Call.resend)."""
        attempts = Attempts(self.retry, call)
        while True:
            try:
                return call.parse(self._request(call))
            except ClientError as exc:
                delay = attempts.delay_after(exc)
            time.sleep(delay)

    def _request(self, call: Call[Any]) -> httpx.Response:
        try:
            return self._http.request(call.method, call.path, **call.options(self.timeout))
        except httpx.HTTPError as exc:
            raise _calls.transport_error(exc, self.url) from exc

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
        return self.send(_calls.log_entry(locals()))

    def log_many(self, entries: Iterable[Mapping[str, Any]]) -> list[Entry]:
        """Store many entries, 1,000 per request (each request all or nothing)."""
        stored: list[Entry] = []
        for call in _calls.bulk_entry_calls(entries):
            stored.extend(self.send(call))
        return stored

    def entries(
        self,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        *,
        project: str | None = None,
        type: str | None = None,
    ) -> Iterator[Entry]:
        """Entries sharing time with [start, end], oldest first, every page. A date is a
        local day in your zone (see `me()`), the end day included; a date-time an instant."""
        pages = _calls.EntryPages(start, end, project, type)
        while call := pages.next_call():
            yield from pages.take(self.send(call))

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
        if self.coalescer is not None and self.coalescer.enabled and wait < 0.001:
            answer = self.coalescer.submit(body, idempotency_key)
            last = answer if isinstance(answer, TaskDetail) else None
            return TaskHandle(self, answer.task_id, _any, last)
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
        handles: list[TaskHandle[Any]] = []
        for call in _calls.batch_calls(items, idempotency_key):
            handles.extend(TaskHandle(self, a.task_id) for a in self.send(call))
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
            try:
                answer = self.send(waiting.next_call(deadline))
            except ApiError as exc:
                waiting.fall_back(exc)
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
    # --- me -------------------------------------------------------------------------------
    def me(self) -> Me:
        """Who the token belongs to, and the time zone your dates are local days in."""
        return self.send(_calls.get_me())

    def update_me(self, *, timezone: str | None = None, week_start: str | None = None) -> Me:
        """Set your time zone (an IANA name, such as Europe/Berlin) and/or week start."""
        return self.send(_calls.patch_me({"timezone": timezone, "week_start": week_start}))

    def set_target(self, hours: float | None, focus: float | None = None) -> Me:
        """Set (None: clear) your weekly target: hours, and a focus share from 0 to 1."""
        return self.send(daily.set_target(hours, focus))

    # --- the running timer and trends ------------------------------------------------------
    def timer(self) -> daily.Timer | None:
        """The running timer, None when none runs."""
        return self.send(daily.get_timer())

    def start_timer(self, title: str, **fields: Any) -> daily.TimerStarted:
        """Start a timer (type, project, tags, ..., start_time); one running is stopped
        and logged first (`.stopped`)."""
        body = {"title": title} | {k: v for k, v in fields.items() if v is not None}
        if isinstance(body.get("start_time"), datetime):
            body["start_time"] = body["start_time"].isoformat()
        return self.send(daily.start_timer(body))

    def stop_timer(
        self, end: datetime | None = None, *, keep_long: bool = False, discard: bool = False
    ) -> daily.TimerStopped:
        """Stop the running timer (at `end`, default now) and log it."""
        body: dict[str, Any] = {"keep_long": keep_long, "discard": discard}
        if end is not None:
            body["end_time"] = end.isoformat()
        return self.send(daily.stop_timer(body))

    def trends(self, weeks: int = 8) -> daily.Trends:
        """The last `weeks` local weeks, oldest first."""
        return self.send(daily.get_trends(weeks))

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
