"""The seam between AI tasks and whatever writes the narrative.

Task handlers only know `AIBackend`; the worker picks the implementation at start
(`--ai builtin|ollama`) with `set_backend`. The builtin backend is the default so
every task type runs on a machine without an LLM."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from englog.ai.builtin import BuiltinBackend
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


_backend: AIBackend | None = None


def get_backend() -> AIBackend:
    """The process-wide backend; the builtin one unless `set_backend` chose another."""
    global _backend
    if _backend is None:
        _backend = BuiltinBackend()
    return _backend


def set_backend(backend: AIBackend | None) -> None:
    """Install `backend` for all AI tasks of this process; None restores the default."""
    global _backend
    _backend = backend
