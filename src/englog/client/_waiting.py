"""Waiting for tasks, without the I/O: deadlines, what a finished task means to its
caller, and the rotation of many ids through `POST /v1/tasks/wait` (at most 1,000 per
request). Shared by the sync and async clients."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from englog.client import _calls, errors
from englog.client.models import TaskDetail, TaskStatus, WaitAnswer

R = TypeVar("R")
# While more ids wait than one request holds, each request waits at most this long, so
# the ids of the other windows are looked at again soon.
ROTATE_WAIT_S = 1.0


def outcome(detail: TaskDetail, parse: Callable[[Any], R]) -> R:
    """The typed result of a finished task, or TaskFailed / TaskCancelled."""
    if detail.status is TaskStatus.COMPLETED:
        return parse(detail.result)
    kind = errors.TaskCancelled if detail.status is TaskStatus.CANCELLED else errors.TaskFailed
    attempts = len(detail.attempts) or detail.attempt
    raise kind(detail.task_id, str(detail.status), detail.error, attempts)


class Deadline:
    """`timeout` seconds from now; None waits without end."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.at = None if timeout is None else time.monotonic() + max(0.0, timeout)

    def left(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def poll_for(self) -> float:
        """How long one long poll may last."""
        left = self.left()
        return _calls.MAX_WAIT_S if left is None else min(left, _calls.MAX_WAIT_S)

    def timed_out(self, what: str, pending: Iterable[str] = ()) -> errors.Timeout:
        ids = list(pending)
        return errors.Timeout(f"{what} not finished within {self.timeout:g}s", ids)


def next_poll(
    task_id: str, last: TaskDetail | None, deadline: Deadline
) -> _calls.Call[TaskDetail] | None:
    """The long poll that follows `last`, None once the task is finished; Timeout when
    the deadline has passed first."""
    if last is not None and last.finished:
        return None
    if deadline.passed:
        raise deadline.timed_out(f"task {task_id}", [task_id])
    return _calls.get_task(task_id, deadline.poll_for())


def is_missing_route(exc: errors.ApiError) -> bool:
    """A server older than `POST /v1/tasks/wait` answers 404 or 405 for it."""
    return exc.status in (404, 405) and exc.code in ("not_found", "method_not_allowed")


class WaitSet:
    """The ids still waited for, sent in rotating windows of MAX_WAIT_IDS."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.pending: deque[str] = deque(dict.fromkeys(ids))
        self.missing: list[str] = []
        self._window: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.pending)

    def next_call(self, deadline: Deadline) -> _calls.Call[WaitAnswer]:
        """The next window's request; Timeout naming every id left once `deadline` passed."""
        if deadline.passed:
            raise deadline.timed_out(f"{len(self.pending)} task(s)", self.pending)
        size = min(len(self.pending), _calls.MAX_WAIT_IDS)
        window = [self.pending.popleft() for _ in range(size)]
        wait = deadline.poll_for()
        if self.pending:  # other windows wait their turn
            wait = min(wait, ROTATE_WAIT_S)
        self._window = window
        return _calls.wait_tasks(window, wait)

    def take(self, answer: WaitAnswer) -> list[TaskDetail]:
        """The finished tasks of an answer; the rest of its window goes back in line.
        Ids the server has no task for raise NotFound once the finished are handed on
        (see `missing`)."""
        finished = [t for t in answer.tasks if t.status.terminal]
        answered = {t.task_id for t in finished} | set(answer.missing)
        self.pending.extend(i for i in self._window if i not in answered)
        self.missing = list(answer.missing)
        return finished

    def fall_back(self, exc: errors.ApiError) -> None:
        """After a failed request: `exc` itself, unless the server has no wait route;
        then the window goes back in line for the caller to poll each task."""
        if not is_missing_route(exc):
            raise exc
        self.pending.extendleft(reversed(self._window))

    def check_missing(self) -> None:
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (" ..." if len(self.missing) > 5 else "")
            raise errors.NotFound(404, "not_found", f"no such task(s): {shown}")
