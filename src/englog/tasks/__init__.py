"""Task handlers. Importing this package registers the built-in task types
(`insight_generation`, `weekly_report`, `noop`, `sleep`, `sleep_blocking`) on
`registry`."""

from englog.tasks import insight, testing, weekly_report  # noqa: F401  (registration)
from englog.tasks.base import NonRetriableError, TaskContext, TaskError, handler, registry

__all__ = ["NonRetriableError", "TaskContext", "TaskError", "handler", "registry"]
