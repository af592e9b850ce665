"""The seam between AI tasks and whatever writes the narrative.

Task handlers only know `AIBackend`; the worker builds one at start
(`--ai builtin|ollama|openai`, `make_backend(config)`) and hands it to its handlers
as `ctx.ai`: no process-wide backend, so two workers in one process (tests, an
embedding application) never share one. The builtin backend is the default so every
task type runs on a machine without an LLM. The worker asks `usable()` before taking
AI tasks: an LLM backend whose circuit is open says no (with the reason for
`/readiness`), so its tasks wait for a healthy worker."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from englog.ai.builtin import BuiltinBackend
from englog.ai.config import AIConfig
from englog.ai.schemas import Insight, InsightRequest, WeeklyReport, WeeklyReportRequest


@runtime_checkable
class AIBackend(Protocol):
    """What an AI backend offers. Implementations compute facts first (see
    `englog.ai.analytics`) and say in each result which backend wrote it."""

    name: str

    async def generate_insight(self, req: InsightRequest) -> Insight: ...

    async def generate_weekly_report(self, req: WeeklyReportRequest) -> WeeklyReport: ...

    async def health(self) -> dict[str, Any]:
        """Cheap liveness of the backend's dependencies; never runs a generation."""
        ...

    def usable(self) -> tuple[bool, str]:
        """(True, "") when AI tasks can be accepted now, else (False, why not)."""
        ...


def make_backend(config: AIConfig | None = None) -> AIBackend:
    """The backend `config` asks for, wrapped in the builtin fallback for `degrade`."""
    config = config or AIConfig()
    if config.backend == "builtin":
        return BuiltinBackend()
    from englog.ai.fallback import FallbackBackend  # LLM clients load only when used
    from englog.ai.llm import LLMBackend

    primary: LLMBackend
    kwargs: dict[str, Any] = {
        "timeouts": config.timeouts,
        "options": config.options,
        "max_repairs": config.max_repairs,
    }
    if config.backend == "ollama":
        from englog.ai.ollama import OllamaBackend

        primary = OllamaBackend(config.url, config.model, **kwargs)
    else:
        from englog.ai.openai_compat import OpenAICompatBackend

        primary = OpenAICompatBackend(config.url, config.model, **kwargs)
    return FallbackBackend(primary) if config.fallback == "degrade" else primary
