"""`AsyncClient`: the asyncio twin of `Client`, call for call. The requests, their
retry rule and the waiting logic are built once (`_calls`, `_waiting`); only the
sending differs. `timeout` arguments are kept (ASYNC109 aside) because they are not
only local: they bound the long polls the server holds, as in `Client`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, TypeVar, cast, overload

import httpx

from englog.client import _calls
from englog.client._calls import Call
from englog.client._retry import DEFAULT_RETRY, Attempts, RetryPolicy
from englog.client._waiting import Deadline, WaitSet, next_poll, outcome
from englog.client.coalesce import AsyncCoalescer, CoalescePolicy
from englog.client.errors import ApiError, ClientError
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
from englog.client.sync import (
    DEFAULT_COALESCE,
    DEFAULT_TIMEOUT_S,
    ClientBase,
    DateLike,
    Handle,
    TaskItem,
    WeekLike,
    _any,
    _as,
    _prefer,
)

T = TypeVar("T")
R = TypeVar("R")


class AsyncTaskHandle(Handle["AsyncClient", R]):
    """A submitted task, awaited: see `TaskHandle`."""

    async def refresh(self) -> TaskDetail:
        self.last = await self.client.send(_calls.get_task(self.id))
        return self.last

    async def status(self) -> TaskStatus:
        return (await self.refresh()).status

    async def wait(self, timeout: float | None = None) -> TaskDetail:  # noqa: ASYNC109
        deadline = Deadline(timeout)
        while call := next_poll(self.id, self.last, deadline):
            self.last = await self.client.send(call)
        return cast(TaskDetail, self.last)  # next_poll ends only on a finished task

    async def result(self, timeout: float | None = None) -> R:  # noqa: ASYNC109
        parsed: R = outcome(await self.wait(timeout), self.parse)
        return parsed

    async def cancel(self) -> TaskView:
        return await self.client.send(_calls.cancel_task(self.id))

    async def retry(self) -> AsyncTaskHandle[R]:
        """See `TaskHandle.retry`."""
        again = await self.client.send(_calls.retry_task(self.id))
        return AsyncTaskHandle(self.client, again.task_id, self.parse)


class AsyncClient(ClientBase[httpx.AsyncBaseTransport, httpx.AsyncClient]):
    """englog's REST API for asyncio programs; configured as `Client` is. Use with
    `async with`, or `await aclose()`. `submit` calls from concurrent tasks are sent
    together (`coalesce`), as `Client` does for threads."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
        coalesce: CoalescePolicy | None = DEFAULT_COALESCE,
    ) -> None:
        """`coalesce`: how `submit` calls made by concurrent tasks are grouped into
        batch requests (see `englog.client.coalesce`); None sends each one alone."""
        super().__init__(url, token, timeout=timeout, retry=retry, transport=transport)
        self.coalescer = None if coalesce is None else AsyncCoalescer(coalesce, self.send)

    def _open(
        self, options: dict[str, Any], transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(**options, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send one call, retried per `retry` where that is safe (see Call.resend)."""
        attempts = Attempts(self.retry, call)
        while True:
            try:
                return call.parse(await self._request(call))
            except ClientError as exc:
                delay = attempts.delay_after(exc)
            await asyncio.sleep(delay)

    async def _request(self, call: Call[Any]) -> httpx.Response:
        try:
            return await self._http.request(call.method, call.path, **call.options(self.timeout))
        except httpx.HTTPError as exc:
            raise _calls.transport_error(exc, self.url) from exc

    # --- entries --------------------------------------------------------------------------
    async def log(
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
        return await self.send(_calls.log_entry(locals()))

    async def log_many(self, entries: Iterable[Mapping[str, Any]]) -> list[Entry]:
        stored: list[Entry] = []
        for call in _calls.bulk_entry_calls(entries):
            stored.extend(await self.send(call))
        return stored

    async def entries(
        self,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        *,
        project: str | None = None,
        type: str | None = None,
    ) -> AsyncIterator[Entry]:
        pages = _calls.EntryPages(start, end, project, type)
        while call := pages.next_call():
            for entry in pages.take(await self.send(call)):
                yield entry

    async def entry(self, entry_id: str) -> Entry:
        return await self.send(_calls.get_entry(entry_id))

    async def update_entry(self, entry_id: str, **changes: Any) -> Entry:
        return await self.send(_calls.patch_entry(entry_id, changes))

    async def delete_entry(self, entry_id: str) -> None:
        await self.send(_calls.delete_entry(entry_id))

    # --- tasks ----------------------------------------------------------------------------
    async def submit(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
        wait: float = 0.0,
    ) -> AsyncTaskHandle[Any]:
        body = _calls.task_body(type, payload, priority, max_attempts, timeout_s)
        if self.coalescer is not None and self.coalescer.enabled and wait < 0.001:
            answer = await self.coalescer.submit(body, idempotency_key)
            last = answer if isinstance(answer, TaskDetail) else None
            return AsyncTaskHandle(self, answer.task_id, _any, last)
        return await self._submit("/v1/tasks", body, idempotency_key, wait, _any)

    async def _submit(
        self, path: str, body: dict[str, Any], key: str | None, wait: float, parse: Any
    ) -> AsyncTaskHandle[Any]:
        answer = await self.send(_calls.submit(path, body, key, wait))
        last = answer if isinstance(answer, TaskDetail) else None
        return AsyncTaskHandle(self, answer.task_id, parse, last)

    async def submit_many(
        self, items: Iterable[TaskItem], *, idempotency_key: str | None = None
    ) -> list[AsyncTaskHandle[Any]]:
        handles: list[AsyncTaskHandle[Any]] = []
        for call in _calls.batch_calls(items, idempotency_key):
            handles.extend(AsyncTaskHandle(self, a.task_id) for a in await self.send(call))
        return handles

    def task(self, task_id: str) -> AsyncTaskHandle[Any]:
        return AsyncTaskHandle(self, task_id)

    async def tasks(
        self, status: str | None = None, type: str | None = None, limit: int = 100, offset: int = 0
    ) -> TaskList:
        return await self.send(_calls.list_tasks(status, type, limit, offset))

    async def wait_all(
        self,
        handles: Iterable[AsyncTaskHandle[Any] | str],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AsyncIterator[TaskDetail]:
        waiting = WaitSet(h if isinstance(h, str) else h.id for h in handles)
        deadline = Deadline(timeout)
        while waiting:
            try:
                answer = await self.send(waiting.next_call(deadline))
            except ApiError as exc:
                waiting.fall_back(exc)
                async for task in self._poll_each(waiting, deadline):
                    yield task
                return
            for task in waiting.take(answer):
                yield task
            waiting.check_missing()

    async def _poll_each(self, waiting: WaitSet, deadline: Deadline) -> AsyncIterator[TaskDetail]:
        """For servers without the wait route: long polls, all at once, in finishing
        order."""
        polls = [
            asyncio.ensure_future(AsyncTaskHandle(self, i).wait(deadline.left()))
            for i in waiting.pending
        ]
        try:
            for finished in asyncio.as_completed(polls):
                yield await finished
        finally:
            for poll in polls:
                poll.cancel()
            await asyncio.gather(*polls, return_exceptions=True)

    # --- insights and reports -------------------------------------------------------------
    @overload
    async def insight(
        self,
        insight_type: str,
        start: DateLike | None = ...,
        end: DateLike | None = ...,
        *,
        entry_ids: Sequence[str] | None = ...,
        context: str | None = ...,
        priority: int = ...,
        wait: Literal[False] = ...,
        timeout: float | None = ...,  # noqa: ASYNC109
        idempotency_key: str | None = ...,
    ) -> AsyncTaskHandle[Insight]: ...

    @overload
    async def insight(
        self,
        insight_type: str,
        start: DateLike | None = ...,
        end: DateLike | None = ...,
        *,
        entry_ids: Sequence[str] | None = ...,
        context: str | None = ...,
        priority: int = ...,
        wait: Literal[True],
        timeout: float | None = ...,  # noqa: ASYNC109
        idempotency_key: str | None = ...,
    ) -> Insight: ...

    async def insight(
        self,
        insight_type: str,
        start: DateLike | None = None,
        end: DateLike | None = None,
        *,
        entry_ids: Sequence[str] | None = None,
        context: str | None = None,
        priority: int = 0,
        wait: bool = False,
        timeout: float | None = 300.0,  # noqa: ASYNC109
        idempotency_key: str | None = None,
    ) -> Any:
        body = _calls.insight_body(insight_type, start, end, entry_ids, context, priority)
        handle = await self._submit(
            "/v1/tasks/insights", body, idempotency_key, _prefer(wait, timeout), _as(Insight)
        )
        return await handle.result(timeout) if wait else handle

    @overload
    async def report(
        self,
        week: WeekLike = ...,
        *,
        priority: int = ...,
        wait: Literal[False] = ...,
        timeout: float | None = ...,  # noqa: ASYNC109
        idempotency_key: str | None = ...,
    ) -> AsyncTaskHandle[WeeklyReport]: ...

    @overload
    async def report(
        self,
        week: WeekLike = ...,
        *,
        priority: int = ...,
        wait: Literal[True],
        timeout: float | None = ...,  # noqa: ASYNC109
        idempotency_key: str | None = ...,
    ) -> WeeklyReport: ...

    async def report(
        self,
        week: WeekLike = None,
        *,
        priority: int = 0,
        wait: bool = False,
        timeout: float | None = 300.0,  # noqa: ASYNC109
        idempotency_key: str | None = None,
    ) -> Any:
        body = _calls.report_body(*as_week(week), priority)
        handle = await self._submit(
            "/v1/tasks/reports", body, idempotency_key, _prefer(wait, timeout), _as(WeeklyReport)
        )
        return await handle.result(timeout) if wait else handle

    # --- me -------------------------------------------------------------------------------
    async def me(self) -> Me:
        """Who the token belongs to, and the time zone your dates are local days in."""
        return await self.send(_calls.get_me())

    async def update_me(self, *, timezone: str | None = None, week_start: str | None = None) -> Me:
        """Set your time zone (an IANA name, such as Europe/Berlin) and/or week start."""
        return await self.send(_calls.patch_me({"timezone": timezone, "week_start": week_start}))

    async def workers(self) -> list[WorkerView]:
        return await self.send(_calls.list_workers())
