"""The `builtin` backend: insights and weekly reports written from the facts alone,
with no LLM, so every AI task runs on any machine (and is the fallback when Ollama
is down).

The text is assembled from `Facts` (`englog.ai.narratives`, wording in
`englog.ai.wording`): every number it states comes from them, and the
recommendations are chosen by thresholds on them (`englog.ai.rules`), so different
weeks read differently and nothing is invented. It cannot read entry descriptions;
that is what an LLM backend adds. Its confidence is computed like any backend's, in
`englog.ai.confidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from englog.ai import confidence
from englog.ai.analytics import EntryLike, Facts, compute_facts, in_range
from englog.ai.narratives import (
    NARRATIVES,
    context_note,
    empty,
    habit_lines,
    highlights,
    trend_lines,
    weekly_summary,
)
from englog.ai.rules import RULES, WEEKLY_RULES, recommend
from englog.ai.schemas import (
    Insight,
    InsightRequest,
    InsightType,
    WeeklyReport,
    WeeklyReportRequest,
)
from englog.ai.trends import with_previous
from englog.ai.wording import hours, plural
from englog.domain.localtime import zone

BACKEND_NAME = "builtin"


def _scored(facts: Facts, texts: list[str], entries: Sequence[EntryLike]) -> dict[str, Any]:
    """The fields every builtin result shares: who wrote it, from which facts, and how
    far to trust it (the claims in `texts` are checked against the facts)."""
    scored = confidence.builtin_assessment(facts, texts, entries)
    return {
        "backend": BACKEND_NAME,
        "confidence": scored.confidence,
        "confidence_components": scored.components,
        "unsupported_claims": scored.unsupported_claims,
        "degraded": False,
        "facts": facts.as_dict(),
        "entry_count": facts.entry_count,
    }


class BuiltinBackend:
    """Templated narrative from the facts; no network, no model, never degraded."""

    name = BACKEND_NAME

    async def generate_insight(self, req: InsightRequest) -> Insight:
        facts = with_previous(
            compute_facts(req.entries, req.period_start, req.period_end, req.time_zone),
            req.previous_entries,
            time_zone=req.time_zone,
        )
        kind = str(req.insight_type)
        title, summary, points = NARRATIVES[kind](facts) if facts.entry_count else empty(kind)
        points += trend_lines(facts) if facts.entry_count else []
        summary += context_note(req.context)
        return Insight(
            **_scored(facts, [title, summary, *points], req.entries),
            insight_type=req.insight_type,
            title=title,
            summary=summary,
            key_points=points,
            recommendations=recommend(kind, facts, RULES[kind]) if facts.entry_count else [],
            period_start=facts.period_start,
            period_end=facts.period_end,
        )

    async def generate_weekly_report(self, req: WeeklyReportRequest) -> WeeklyReport:
        facts = compute_facts(req.entries, req.week_start, req.week_end, req.time_zone)
        facts = with_previous(facts, req.previous_entries, time_zone=req.time_zone)
        tz = zone(req.time_zone)
        in_week = [e for e in req.entries if in_range(e, req.week_start, req.week_end, tz)]
        title = (
            f"Week of {req.week_start}: {hours(facts.total_minutes)} across "
            f"{plural(facts.project_count, 'project')}"
        )
        summary = weekly_summary(facts, req.week_start, req.week_end)
        lines = highlights(in_week, facts) + trend_lines(facts) + habit_lines(facts)
        return WeeklyReport(
            **_scored(facts, [title, summary, *lines], in_week),
            week_start=req.week_start,
            week_end=req.week_end,
            title=title,
            summary=summary,
            highlights=lines,
            time_breakdown=facts.minutes_by_type,
            recommendations=self._weekly_recommendations(facts),
        )

    @staticmethod
    def _weekly_recommendations(facts: Facts) -> list[str]:
        if not facts.entry_count:
            return []
        return recommend(InsightType.PRODUCTIVITY, facts, WEEKLY_RULES)

    async def health(self) -> dict[str, Any]:
        return {"backend": BACKEND_NAME, "status": "healthy"}

    def usable(self) -> tuple[bool, str]:
        """No dependency: always."""
        return True, ""
