"""AI narratives over time entries: facts first (`compute_facts`), then a backend that
writes an insight or a weekly report from them (builtin templates, or an LLM through
Ollama or an OpenAI-compatible server), with a confidence computed from what can be
checked. The LLM backends load their HTTP clients only when first used."""

from typing import TYPE_CHECKING, Any

from englog.ai.analytics import Facts, compute_facts
from englog.ai.backend import AIBackend, make_backend
from englog.ai.builtin import BuiltinBackend
from englog.ai.config import AIConfig, AITimeouts, ModelOptions
from englog.ai.errors import (
    AICircuitOpen,
    AIError,
    AIInvalidAnswer,
    AIModelMissing,
    AINonRetriable,
    AIUnavailable,
)
from englog.ai.sample import load_sample_week
from englog.ai.schemas import (
    AIResult,
    Draft,
    EntryPayload,
    Insight,
    InsightDraft,
    InsightRequest,
    InsightType,
    WeeklyReport,
    WeeklyReportDraft,
    WeeklyReportRequest,
)

if TYPE_CHECKING:
    from englog.ai.fallback import FallbackBackend
    from englog.ai.llm import ChatAnswer, LLMBackend
    from englog.ai.ollama import OllamaBackend
    from englog.ai.openai_compat import OpenAICompatBackend

_LAZY = {
    "ChatAnswer": "englog.ai.llm",
    "FallbackBackend": "englog.ai.fallback",
    "LLMBackend": "englog.ai.llm",
    "OllamaBackend": "englog.ai.ollama",
    "OpenAICompatBackend": "englog.ai.openai_compat",
}


def __getattr__(name: str) -> Any:
    """The LLM backends, imported on first use (they pull in httpx and ollama)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIBackend",
    "AICircuitOpen",
    "AIConfig",
    "AIError",
    "AIInvalidAnswer",
    "AIModelMissing",
    "AINonRetriable",
    "AIResult",
    "AITimeouts",
    "AIUnavailable",
    "BuiltinBackend",
    "ChatAnswer",
    "Draft",
    "EntryPayload",
    "Facts",
    "FallbackBackend",
    "Insight",
    "InsightDraft",
    "InsightRequest",
    "InsightType",
    "LLMBackend",
    "ModelOptions",
    "OllamaBackend",
    "OpenAICompatBackend",
    "WeeklyReport",
    "WeeklyReportDraft",
    "WeeklyReportRequest",
    "compute_facts",
    "load_sample_week",
    "make_backend",
]
