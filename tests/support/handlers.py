"""Extra handlers the tests load into real workers with `--handlers tests.support.handlers`."""

from __future__ import annotations

import asyncio
import resource
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


@handler("hog")
def hog(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, int]:
    """Memory pressure: allocates 8 MiB blocks until the process runs out of address
    space. The limit is this process's own (RLIMIT_AS lowered to its current size plus
    `headroom_mb` for the duration), so the machine itself is never short of memory."""
    headroom = int(payload.get("headroom_mb", 256)) * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + headroom, hard))
    block = 8 * 1024 * 1024
    blocks: list[bytearray] = []
    try:
        while len(blocks) < 2 * headroom // block:  # bounded even without the limit
            blocks.append(bytearray(block))
    finally:
        allocated = len(blocks)
        blocks.clear()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return {"allocated_mib": allocated * 8}
