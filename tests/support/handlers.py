"""Extra handlers the tests load into real workers with `--handlers tests.support.handlers`."""

from __future__ import annotations

from typing import Any

from englog.tasks import TaskContext, handler


@handler("big_result")
async def big_result(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """A result larger than one report may carry."""
    return "x" * int(payload.get("bytes", 5 * 1024 * 1024))
