"""AI narratives over time entries: facts first (`compute_facts`), then a backend that
writes an insight or a weekly report from them (builtin templates, or an LLM through
Ollama or an OpenAI-compatible server), with a confidence computed from what can be
checked. Names here are imported on first use."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from englog.ai.fallback import FallbackBackend
    from englog.ai.llm import ChatAnswer, LLMBackend
    from englog.ai.ollama import OllamaBackend
    from englog.ai.openai_compat import OpenAICompatBackend
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

# Every name is imported on first use: `englog.ai.schemas` is read by the client and
# the CLI, which should not pay for the analytics, the backends and their HTTP clients
# (the LLM backends pull in httpx and ollama) just because Python runs this file first.
_LAZY = {
    **dict.fromkeys(("Facts", "compute_facts"), "englog.ai.analytics"),
    **dict.fromkeys(("AIBackend", "make_backend"), "englog.ai.backend"),
    "BuiltinBackend": "englog.ai.builtin",
    **dict.fromkeys(("AIConfig", "AITimeouts", "ModelOptions"), "englog.ai.config"),
    **dict.fromkeys(
        (
            "AICircuitOpen",
            "AIError",
            "AIInvalidAnswer",
            "AIModelMissing",
            "AINonRetriable",
            "AIUnavailable",
        ),
        "englog.ai.errors",
    ),
    "FallbackBackend": "englog.ai.fallback",
    **dict.fromkeys(("ChatAnswer", "LLMBackend"), "englog.ai.llm"),
    "OllamaBackend": "englog.ai.ollama",
    "OpenAICompatBackend": "englog.ai.openai_compat",
    "load_sample_week": "englog.ai.sample",
    **dict.fromkeys(
        (
            "AIResult",
            "Draft",
            "EntryPayload",
            "Insight",
            "InsightDraft",
            "InsightRequest",
            "InsightType",
            "WeeklyReport",
            "WeeklyReportDraft",
            "WeeklyReportRequest",
        ),
        "englog.ai.schemas",
    ),
}


def __getattr__(name: str) -> Any:
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
