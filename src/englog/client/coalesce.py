"""Coalescing: single submissions from many threads sent as one `POST /v1/tasks/batch`,
as a Kafka producer batches records, so a program that submits from a thread pool pays
one HTTP request (and one server request's CPU) per group instead of one per task.

How a group forms (no background thread): a submitter that finds no request of the
client's in flight sends at once; submitters arriving meanwhile queue up, and when the
request in flight returns, the oldest of them sends everything queued (up to
`max_items`) in one request. With `linger_s` > 0 (as Kafka's `linger.ms`) the sender
first waits, at most that long, until as many submitters have queued as the largest
recent group held (that estimate shrinks by one per request): with N threads
submitting, groups of N instead of about N/2; a lone submitter lingers for nobody,
and one left alone after a burst waits at most `linger_s` for a few requests. Each
thread sends only requests that hold its own item, so no thread works for others
after its task is in.

What each item keeps: its own `Idempotency-Key` (the batch item's `idempotency_key`,
which the server stores exactly as the single submission's; a resent batch, or the
item resent alone, answers the same task), its own handle, and its own error: when the
server refuses a group (one bad item makes a batch all or nothing), every item of it
is sent again alone by its own thread, so each caller gets the answer its single
submission gets, and the items already created answer their task again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from englog.client import _calls
from englog.client.errors import ApiError, ClientError
from englog.client.models import TaskAccepted, TaskDetail

# Statuses of a refused group after which the server is taken not to know item keys
# (an englog older than coalescing): the client stops coalescing.
_UNSUPPORTED = frozenset({404, 405})


def _unsupported(exc: ApiError) -> bool:
    """Does this refusal say the server has no batch route, or no item keys (an older
    englog refuses the unknown field `idempotency_key` of every item)?"""
    if exc.status in _UNSUPPORTED:
        return True
    return exc.status == 422 and any(
        e.field.endswith(".idempotency_key") and "extra" in e.message.lower() for e in exc.errors
    )


@dataclass(frozen=True, slots=True)
class CoalescePolicy:
    """How single submissions are grouped. `linger_s`: the longest the first of a group
    waits for the submitters recently seen (0: not at all; groups still form from
    submissions made while a request is in flight);
    `max_items`: most items per request (the server takes 1,000)."""

    linger_s: float = 0.002
    max_items: int = 256

    def __post_init__(self) -> None:
        if self.linger_s < 0 or self.linger_s > 1:
            raise ValueError("coalesce linger_s must be between 0 and 1 second")
        if not 1 <= self.max_items <= _calls.MAX_PAGE:
            raise ValueError(f"coalesce max_items must be between 1 and {_calls.MAX_PAGE}")


class _Item:
    """One queued submission and, once known, its outcome."""

    __slots__ = ("alone", "answer", "body", "error", "key", "lead", "ready")

    def __init__(self, body: dict[str, Any], key: str) -> None:
        self.body = body
        self.key = key
        self.ready = threading.Event()
        self.lead = False  # this item's thread sends the next group
        self.alone = False  # the group was refused: send this item alone
        self.answer: TaskAccepted | TaskDetail | None = None
        self.error: BaseException | None = None


Send = Callable[[_calls.Call[Any]], Any]


class Coalescer:
    """The queue of one client. `send` sends a call with the client's retries."""

    def __init__(self, policy: CoalescePolicy, send: Send) -> None:
        self.policy = policy
        self._send = send
        self._lock = threading.Condition(threading.Lock())
        self._queue: list[_Item] = []
        self._busy = False  # a group (or a lone item) is in flight
        # How many submitters to linger for: the largest recent group, shrinking by one
        # per request, so a lone submitter soon lingers for nobody.
        self._expected = 1
        self.enabled = True
        self.requests = 0  # requests sent through here, for tests and the bench

    def submit(self, body: Mapping[str, Any], key: str | None) -> TaskAccepted | TaskDetail:
        """The answer to this one submission, sent in a group when others are queued."""
        item = _Item(dict(body), key or _calls.new_key())
        with self._lock:
            self._queue.append(item)
            if not self._busy:
                self._busy = item.lead = True
            elif self.policy.linger_s and len(self._queue) >= self._expected:
                self._lock.notify_all()  # a lingering leader has its group
        while True:
            if item.lead:
                item.lead = False
                self._lead()
            else:
                item.ready.wait()
                item.ready.clear()
            if item.alone:
                return self._send(_calls.submit("/v1/tasks", item.body, item.key))
            if item.error is not None:
                raise item.error
            if item.answer is not None:
                return item.answer

    def _lead(self) -> None:
        """Send one group (which holds the caller's item), then hand over to the next."""
        group = self._take()
        try:
            self._send_group(group)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].ready.set()
                else:
                    self._busy = False
            for item in group:
                item.ready.set()

    def _take(self) -> list[_Item]:
        with self._lock:
            if self.policy.linger_s:
                until = time.monotonic() + self.policy.linger_s
                while len(self._queue) < min(self._expected, self.policy.max_items):
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
            group = self._queue[: self.policy.max_items]
            del self._queue[: self.policy.max_items]
            self.requests += 1
            self._expected = max(len(group), self._expected - 1)
        return group

    def _send_group(self, group: list[_Item]) -> None:
        if not self.enabled:
            for item in group:
                item.alone = True
            return
        try:
            if len(group) == 1:  # alone: the single route (and its fast path)
                answers = [self._send(_calls.submit("/v1/tasks", group[0].body, group[0].key))]
            else:
                answers = self._send(_calls.submit_items([(i.body, i.key) for i in group]))
        except ClientError as exc:
            if len(group) == 1 or not isinstance(exc, ApiError):
                for item in group:  # a transport failure: the same for every item
                    item.error = exc
                return
            if _unsupported(exc):
                self.enabled = False
            for item in group:
                item.alone = True  # each learns its own fate from its own request
            return
        except Exception as exc:  # e.g. a payload that is not JSON: nothing was sent
            if len(group) == 1:
                group[0].error = exc
                return
            for item in group:
                item.alone = True  # only the item at fault fails, in its own thread
            return
        except BaseException as exc:  # KeyboardInterrupt in the sending thread
            error = ClientError(f"coalesced submission interrupted: {exc!r}")
            for item in group[1:]:
                item.error = error
            raise
        if len(answers) != len(group):
            error = ApiError(200, "bad_answer", "batch answer does not match the items sent")
            for item in group:
                item.error = error
            return
        for item, answer in zip(group, answers, strict=True):
            item.answer = answer


class _AsyncItem:
    """One queued submission of an asyncio program; `future` gets its outcome."""

    __slots__ = ("alone", "body", "future", "key")

    def __init__(self, body: dict[str, Any], key: str, future: asyncio.Future[Any]) -> None:
        self.body = body
        self.key = key
        self.future = future
        self.alone = False


AsyncSend = Callable[[_calls.Call[Any]], Awaitable[Any]]


class AsyncCoalescer:
    """`Coalescer` for asyncio tasks on one event loop: the same grouping rule (a
    submission finding nothing in flight goes at once; the ones made meanwhile go
    together, after at most `linger_s` waiting for the recent group size), sent by one
    sender task that lives while anything is queued."""

    def __init__(self, policy: CoalescePolicy, send: AsyncSend) -> None:
        self.policy = policy
        self._send = send
        self._queue: list[_AsyncItem] = []
        self._sender: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._expected = 1
        self.enabled = True
        self.requests = 0

    async def submit(self, body: Mapping[str, Any], key: str | None) -> TaskAccepted | TaskDetail:
        item = _AsyncItem(
            dict(body), key or _calls.new_key(), asyncio.get_running_loop().create_future()
        )
        self._queue.append(item)
        self._arrived.set()
        if self._sender is None:
            self._arrived = asyncio.Event()  # of this loop (a client may outlive one)
            self._sender = asyncio.create_task(self._serve())
        answer = await asyncio.shield(item.future)
        if item.alone:
            answer = await self._send(_calls.submit("/v1/tasks", item.body, item.key))
        result: TaskAccepted | TaskDetail = answer
        return result

    async def _serve(self) -> None:
        try:
            while self._queue:
                group = await self._take()
                await self._send_group(group)
        finally:
            self._sender = None
            for item in self._queue:  # only when cancelled: nobody sends these now
                if not item.future.done():
                    item.future.set_exception(ClientError("coalesced submission cancelled"))
            self._queue.clear()

    async def _take(self) -> list[_AsyncItem]:
        if self.policy.linger_s:
            loop = asyncio.get_running_loop()
            until = loop.time() + self.policy.linger_s
            while len(self._queue) < min(self._expected, self.policy.max_items):
                left = until - loop.time()
                if left <= 0:
                    break
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
        group = self._queue[: self.policy.max_items]
        del self._queue[: self.policy.max_items]
        self.requests += 1
        self._expected = max(len(group), self._expected - 1)
        return group

    async def _send_group(self, group: list[_AsyncItem]) -> None:
        def settle(item: _AsyncItem, value: Any = None, error: BaseException | None = None) -> None:
            if item.future.done():
                return
            if error is None:
                item.future.set_result(value)
            else:
                item.future.set_exception(error)

        def alone() -> None:
            for item in group:
                item.alone = True
                settle(item)

        if not self.enabled:
            return alone()
        try:
            if len(group) == 1:
                answers = [
                    await self._send(_calls.submit("/v1/tasks", group[0].body, group[0].key))
                ]
            else:
                answers = await self._send(_calls.submit_items([(i.body, i.key) for i in group]))
        except ClientError as exc:
            if len(group) == 1 or not isinstance(exc, ApiError):
                for item in group:
                    settle(item, error=exc)
                return None
            if _unsupported(exc):
                self.enabled = False
            return alone()
        except Exception as exc:
            if len(group) == 1:
                settle(group[0], error=exc)
                return None
            return alone()
        except BaseException as exc:  # cancelled: every waiting caller hears of it
            for item in group:
                settle(item, error=ClientError(f"coalesced submission interrupted: {exc!r}"))
            raise
        if len(answers) != len(group):
            error = ApiError(200, "bad_answer", "batch answer does not match the items sent")
            for item in group:
                settle(item, error=error)
            return None
        for item, answer in zip(group, answers, strict=True):
            settle(item, answer)
        return None
