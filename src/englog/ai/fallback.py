"""`--ai-fallback degrade`: the LLM backend while it works, the builtin one when it
does not, so AI tasks complete during an outage with a result that says so.

The primary is used while its breaker allows calls; when it refuses them, or a call
fails as unavailable after its retries, the builtin backend answers and the result is
marked `degraded: true` with the reason, and its confidence multiplied by
`confidence.DEGRADED_FACTOR` (0.8; the factor is kept in `confidence_components`).
A missing model (`AIModelMissing`) degrades too: the worker stays useful for AI tasks
until someone runs `ollama pull`. Failures that a stand-in would hide are not caught:
a request the LLM server rejects and answers that never fit the schema.
Always usable, so the worker keeps advertising capacity for AI tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from englog.ai.backend import AIBackend
from englog.ai.builtin import BuiltinBackend
from englog.ai.confidence import R, degrade
from englog.ai.errors import AIModelMissing, AIUnavailable
from englog.ai.llm import LLMBackend
from englog.ai.schemas import Insight, InsightRequest, WeeklyReport, WeeklyReportRequest

log = structlog.get_logger("englog.ai")


class FallbackBackend:
    def __init__(self, primary: LLMBackend, secondary: BuiltinBackend | None = None) -> None:
        self.primary = primary
        self.secondary = secondary or BuiltinBackend()
        self.name = primary.name

    def usable(self) -> tuple[bool, str]:
        return True, ""

    def _unusable_reason(self) -> str | None:
        ok, reason = self.primary.usable()
        return None if ok else reason

    def _note(self, reason: str) -> str:
        log.warning("ai_degraded", primary=self.primary.name, reason=reason)
        return f"{self.primary.name} unavailable: {reason}"

    async def generate_insight(self, req: InsightRequest) -> Insight:
        return await self._answer(lambda backend: backend.generate_insight(req))

    async def generate_weekly_report(self, req: WeeklyReportRequest) -> WeeklyReport:
        return await self._answer(lambda backend: backend.generate_weekly_report(req))

    async def _answer(self, ask: Callable[[AIBackend], Awaitable[R]]) -> R:
        """The primary's answer while it is usable; else the stand-in's, marked degraded."""
        reason = self._unusable_reason()
        if reason is None:
            try:
                return await ask(self.primary)
            except (AIUnavailable, AIModelMissing) as exc:
                reason = str(exc)
        return degrade(await ask(self.secondary), self._note(reason))

    async def health(self) -> dict[str, Any]:
        return await self.primary.health() | {"fallback": self.secondary.name}

    async def aclose(self) -> None:
        await self.primary.aclose()
