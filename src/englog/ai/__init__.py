"""AI narratives over time entries: facts first (`compute_facts`), then a backend that
writes an insight or a weekly report from them (builtin templates, or an LLM through
Ollama or an OpenAI-compatible server), with a confidence computed from what can be
checked. Names here are imported on first use."""

from typing import TYPE_CHECKING

from englog._lazy import lazy_exports

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
__getattr__ = lazy_exports(
    __name__,
    {
        "englog.ai.analytics": ("Facts", "compute_facts"),
        "englog.ai.backend": ("AIBackend", "make_backend"),
        "englog.ai.builtin": ("BuiltinBackend",),
        "englog.ai.config": ("AIConfig", "AITimeouts", "ModelOptions"),
        "englog.ai.errors": (
            "AICircuitOpen",
            "AIError",
            "AIInvalidAnswer",
            "AIModelMissing",
            "AINonRetriable",
            "AIUnavailable",
        ),
        "englog.ai.fallback": ("FallbackBackend",),
        "englog.ai.llm": ("ChatAnswer", "LLMBackend"),
        "englog.ai.ollama": ("OllamaBackend",),
        "englog.ai.openai_compat": ("OpenAICompatBackend",),
        "englog.ai.sample": ("load_sample_week",),
        "englog.ai.schemas": (
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
    },
)

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
