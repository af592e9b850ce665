"""Task handlers. Importing this package registers the built-in task types
(`insight_generation`, `weekly_report`, `noop`, `sleep`, `sleep_blocking`) on the
default `registry`, which `@handler` fills; a worker is given the registry it serves
(and its AI backend, seen by handlers as `ctx.ai`) rather than reading a global."""

from englog.tasks import insight, testing, weekly_report  # noqa: F401  (registration)
from englog.tasks.base import (
    HandlerRegistry,
    HandlerSpec,
    NonRetriableError,
    TaskContext,
    TaskError,
    handler,
    registry,
)

__all__ = [
    "HandlerRegistry",
    "HandlerSpec",
    "NonRetriableError",
    "TaskContext",
    "TaskError",
    "handler",
    "registry",
]
