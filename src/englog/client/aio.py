"""`AsyncClient`: the asyncio twin of `Client`, call for call. The requests, their
retry rule and the waiting logic are built once (`_calls`, `_waiting`); only the
sending differs. `timeout` arguments are kept (ASYNC109 aside) because they are not
only local: they bound the long polls the server holds, as in `Client`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar, overload

import httpx

from englog.client import _calls
from englog.client._calls import DEFAULT_RETRY, Call, RetryPolicy
from englog.client._waiting import Deadline, WaitSet, is_missing_route, outcome
from englog.client.config import resolve
from englog.client.errors import ApiError, ClientError
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
from englog.client.sync import (
    DEFAULT_TIMEOUT_S,
    DateLike,
    TaskItem,
    WeekLike,
    _any,
    _as,
    _prefer,
    connection,
)

T = TypeVar("T")
R = TypeVar("R")


class AsyncTaskHandle(Generic[R]):
    """A submitted task, awaited: see `TaskHandle`."""

    def __init__(
        self,
        client: AsyncClient,
        task_id: str,
        parse: Any = _any,
        last: TaskDetail | None = None,
    ) -> None:
        self.client = client
        self.id = task_id
        self.parse = parse
        self.last = last

    def __repr__(self) -> str:
        return f"AsyncTaskHandle({self.id!r})"

    async def refresh(self) -> TaskDetail:
        self.last = await self.client.send(_calls.get_task(self.id))
        return self.last

    async def status(self) -> TaskStatus:
        return (await self.refresh()).status

    async def wait(self, timeout: float | None = None) -> TaskDetail:  # noqa: ASYNC109
        deadline = Deadline(timeout)
        while self.last is None or not self.last.finished:
            if deadline.passed:
                raise deadline.timed_out(f"task {self.id}", [self.id])
            self.last = await self.client.send(_calls.get_task(self.id, deadline.poll_for()))
        return self.last

    async def result(self, timeout: float | None = None) -> R:  # noqa: ASYNC109
        parsed: R = outcome(await self.wait(timeout), self.parse)
        return parsed

    async def cancel(self) -> TaskView:
        return await self.client.send(_calls.cancel_task(self.id))


class AsyncClient:
    """englog's REST API for asyncio programs; configured as `Client` is. Use with
    `async with`, or `await aclose()`."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = resolve(url, token)
        self.url = self.settings.url
        self.timeout = timeout
        self.retry = retry
        self._http = httpx.AsyncClient(**connection(self.settings, timeout), transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send one call, retried per `retry` where that is safe (see Call.resend)."""
        failures, started = 0, time.monotonic()
        while True:
            try:
                try:
                    response = await self._http.request(
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
            await asyncio.sleep(delay)

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
        fields = {k: v for k, v in locals().items() if k != "self"}
        fields.update(start_time=fields.pop("start"), end_time=fields.pop("end"))
        fields["tags"] = list(tags)
        return await self.send(_calls.create_entry(_calls.entry_body(fields)))

    async def log_many(self, entries: Iterable[Mapping[str, Any]]) -> list[Entry]:
        bodies = [_calls.entry_body(e) for e in entries]
        stored: list[Entry] = []
        for first in range(0, len(bodies), _calls.MAX_PAGE):
            chunk = bodies[first : first + _calls.MAX_PAGE]
            stored.extend(await self.send(_calls.bulk_entries(chunk)))
        return stored

    async def entries(
        self,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        *,
        project: str | None = None,
        type: str | None = None,
    ) -> AsyncIterator[Entry]:
        offset = 0
        while True:
            page = await self.send(_calls.entry_page(start, end, project, type, offset))
            for entry in page:
                yield entry
            if len(page) < _calls.MAX_PAGE:
                return
            offset += len(page)

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
        bodies = _calls.batch_items(items)
        chunks = -(-len(bodies) // _calls.MAX_PAGE)
        handles: list[AsyncTaskHandle[Any]] = []
        for first in range(0, len(bodies), _calls.MAX_PAGE):
            chunk = bodies[first : first + _calls.MAX_PAGE]
            key = _calls.chunk_key(idempotency_key, first // _calls.MAX_PAGE, chunks)
            accepted: list[TaskAccepted] = await self.send(_calls.submit_batch(chunk, key))
            handles.extend(AsyncTaskHandle(self, a.task_id) for a in accepted)
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
            if deadline.passed:
                raise deadline.timed_out(f"{len(waiting.pending)} task(s)", waiting.pending)
            try:
                answer = await self.send(waiting.next_call(deadline))
            except ApiError as exc:
                if not is_missing_route(exc):
                    raise
                waiting.restore()
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

    async def workers(self) -> list[WorkerView]:
        return await self.send(_calls.list_workers())
