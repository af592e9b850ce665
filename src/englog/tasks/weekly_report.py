"""`weekly_report`: a report over one week of entries, written by the same backend as
insights (see `englog.tasks.insight`)."""

from __future__ import annotations

from typing import Any

from englog.ai.schemas import WeeklyReportRequest
from englog.domain.tasks import DEFAULT_TIMEOUTS_S
from englog.tasks.base import TaskContext, handler
from englog.tasks.insight import parse_ai_request, write

__all__ = ["REPORT_TIMEOUT_S", "weekly_report"]

REPORT_TIMEOUT_S = DEFAULT_TIMEOUTS_S["weekly_report"]


@handler("weekly_report", timeout_s=REPORT_TIMEOUT_S, requires=("ai",))
async def weekly_report(ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    req = parse_ai_request(WeeklyReportRequest, payload, "weekly_report")
    scope = f"for {req.week_start}..{req.week_end}"
    return await write(ctx, scope, "report", lambda backend: backend.generate_weekly_report(req))
