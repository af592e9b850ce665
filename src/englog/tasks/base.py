"""What a task handler sees: its context, the errors that carry retry meaning, and the
registry the `@handler` decorator fills.

Lives in `tasks` (not `worker`) because handlers must not import the worker: the
worker imports them. A handler is `async def h(ctx, payload)` or a plain `def` (run
in a thread by the worker so it never blocks heartbeats).

Nothing here is consulted behind the worker's back: the worker is given its
`HandlerRegistry` (the module-level `registry` that `@handler` fills is only the
default one) and its AI backend, which reaches handlers as `ctx.ai`."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from englog.errors import EnglogError

if TYPE_CHECKING:
    from englog.ai.backend import AIBackend

ProgressSink = Callable[[float, str], None]


class TaskError(EnglogError):
    """Raised by handlers to fail an attempt; `retriable` says whether another attempt
    may help (a bad payload will not, a flaky dependency may); `retry_after` (seconds)
    says when, if the handler knows (an open circuit), and travels to the runner."""

    def __init__(
        self, message: str, *, retriable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.retry_after = retry_after


class NonRetriableError(TaskError):
    """Bad input or a missing resource: the task goes straight to FAILED."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False)


@dataclass(slots=True)
class TaskContext:
    """Per-attempt context. Safe to use from a handler thread: progress is handed to
    the event loop, cancellation is a threading.Event sync handlers can poll."""

    task_id: str
    type: str
    attempt: int
    deadline: float  # unix seconds
    worker_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    _progress: ProgressSink = lambda percent, message: None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    # The worker's AI backend for handlers that need one; None: the builtin one.
    ai: AIBackend | None = None

    def progress(self, percent: float, message: str = "") -> None:
        """Best effort: coalesced by the worker, never blocks, never raises."""
        self._progress(max(0.0, min(100.0, float(percent))), message)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    @property
    def time_left(self) -> float:
        return max(0.0, self.deadline - time.time())


Handler = Callable[[TaskContext, dict[str, Any]], Any | Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    name: str
    func: Handler
    is_async: bool
    timeout_s: float | None = None  # default deadline for tasks of this type
    # Dependencies the handler cannot run without ("ai"): while one is unusable the
    # worker advertises zero capacity for this type instead of failing its tasks.
    requires: frozenset[str] = frozenset()


class HandlerRegistry:
    """Task type -> handler. The worker advertises its keys as capabilities."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def register(
        self,
        name: str,
        func: Handler,
        *,
        timeout_s: float | None = None,
        requires: Iterable[str] = (),
    ) -> None:
        if name in self._specs:
            raise ValueError(f"a handler for task type {name!r} is already registered")
        is_async = inspect.iscoroutinefunction(func)
        self._specs[name] = HandlerSpec(name, func, is_async, timeout_s, frozenset(requires))

    def handler(
        self,
        name: str | None = None,
        *,
        timeout_s: float | None = None,
        requires: Iterable[str] = (),
    ) -> Callable[[Handler], Handler]:
        def decorate(func: Handler) -> Handler:
            self.register(name or func.__name__, func, timeout_s=timeout_s, requires=requires)
            return func

        return decorate

    def get(self, name: str) -> HandlerSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


# The default registry: built-in handlers and user modules loaded with --handlers add here.
registry = HandlerRegistry()
handler = registry.handler
