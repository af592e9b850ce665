"""Task types for tests and benchmarks: `noop` measures the machinery alone, `sleep`
holds a slot for a known time while reporting progress, and `sleep_blocking` does the
same from a thread with `time.sleep`, to prove a blocking handler cannot starve the
worker's heartbeats."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from englog.tasks.base import TaskContext, TaskError, handler
from englog.tasks.insight import parse_payload

MAX_SLEEP_S = 3600.0
STEPS = 10


class SleepPayload(BaseModel):
    """`{"seconds": s}` with 0 <= s <= 3600; strings and booleans are refused."""

    model_config = ConfigDict(extra="ignore")

    seconds: float = Field(ge=0.0, le=MAX_SLEEP_S, allow_inf_nan=False, strict=True)


def _progress_message(done: float, seconds: float) -> str:
    return f"slept {done:.2f} of {seconds:g} s"


@handler("noop")
async def noop(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Returns its payload unchanged."""
    return payload


@handler("sleep")
async def sleep(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, float]:
    """Sleeps `seconds` in 10 steps, reporting progress after each."""
    seconds = parse_payload(SleepPayload, payload, "sleep").seconds
    for step in range(1, STEPS + 1):
        await asyncio.sleep(seconds / STEPS)
        ctx.progress(100.0 * step / STEPS, _progress_message(seconds * step / STEPS, seconds))
    return {"slept": seconds}


@handler("sleep_blocking")
def sleep_blocking(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, float]:
    """Like `sleep` but blocks its thread; stops between steps once cancelled."""
    seconds = parse_payload(SleepPayload, payload, "sleep_blocking").seconds
    for step in range(1, STEPS + 1):
        if ctx.cancelled:
            raise TaskError(f"cancelled after {seconds * (step - 1) / STEPS:.2f} s")
        time.sleep(seconds / STEPS)
        ctx.progress(100.0 * step / STEPS, _progress_message(seconds * step / STEPS, seconds))
    return {"slept": seconds}
