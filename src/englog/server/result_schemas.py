"""What a completed task's result must look like, by task type, checked before the
result is accepted (issue 22: a worker's `[1,2,3]` for a weekly report was stored; the
web page then showed nothing and the Markdown download was a 404). A result that does
not fit is turned into a failed attempt whose error says why, so the task is retried
(on a better worker) or fails, visibly. Types not listed here (a deployment's own)
are not checked."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from englog.ai.schemas import Insight, WeeklyReport

RESULT_SCHEMAS: dict[str, TypeAdapter[Any]] = {
    "insight_generation": TypeAdapter(Insight),
    "weekly_report": TypeAdapter(WeeklyReport),
    # The test types return an object (their handlers': {"slept": s}, the payload).
    "sleep": TypeAdapter(dict[str, Any]),
    "sleep_blocking": TypeAdapter(dict[str, Any]),
    "noop": TypeAdapter(dict[str, Any]),
}
_MAX_REASON = 300


def result_problem(task_type: str, result: Any) -> str | None:
    """Why `result` is not a valid result of `task_type`; None when it is (or the
    type has no schema)."""
    schema = RESULT_SCHEMAS.get(task_type)
    if schema is None:
        return None
    try:
        schema.validate_python(result)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "result"
        reason = f"{where}: {first.get('msg', 'invalid')}"
        return f"result does not match the {task_type} result schema ({reason})"[:_MAX_REASON]
    return None
