"""Extra handlers the tests load into real workers with `--handlers tests.support.handlers`."""

from __future__ import annotations

import asyncio
from typing import Any

from englog.tasks import TaskContext, TaskError, handler


@handler("big_result")
async def big_result(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """A result larger than one report may carry."""
    return "x" * int(payload.get("bytes", 5 * 1024 * 1024))


@handler("retry_after")
async def retry_after(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, int]:
    """Fails its first attempt asking for `payload["seconds"]` before the next one (as an
    open AI circuit does); succeeds after."""
    if ctx.attempt == 1:
        raise TaskError("dependency busy", retriable=True, retry_after=float(payload["seconds"]))
    return {"attempt": ctx.attempt}


@handler("echo")
async def echo(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Answers with its own payload (after `seconds`), so a chaos test can check each
    result against the task it was credited to: a result crossed between tasks shows."""
    await asyncio.sleep(float(payload.get("seconds", 0.0)))
    return {"echo": payload}
