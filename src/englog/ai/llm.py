"""What every LLM backend shares: facts first, a bounded prompt, a structured answer
checked against its schema and asked again with the error when it fails, each call
bounded in time, retried on transient failures and guarded by the backend's own
circuit breaker, and a computed confidence (`englog.ai.confidence`).

A subclass supplies one thing, `_chat_once`: a single request to its server that
returns a `ChatAnswer` or raises `AIUnavailable` (retried, counted by the breaker)
or `AINonRetriable` (neither). Layers, outermost first::

    repair loop (invalid answer -> error fed back, up to max_repairs)
      Retrier (AIUnavailable except AICircuitOpen; backoff with jitter)
        CircuitBreaker (failure = AIUnavailable; the peer answered otherwise)
          asyncio.timeout (per call; model_load_s until a first success)
            _chat_once
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError

from englog.ai import confidence
from englog.ai.analytics import Facts, compute_facts, in_range
from englog.ai.answer_schema import answer_schema, checkable, field_findings, finish
from englog.ai.claims import entry_names
from englog.ai.config import AITimeouts, ModelOptions
from englog.ai.errors import AICircuitOpen, AIInvalidAnswer, AINonRetriable, AIUnavailable
from englog.ai.prompts import (
    TRUNCATED,
    Prompt,
    PromptBudget,
    insight_prompt,
    repair_message,
    report_prompt,
)
from englog.ai.schemas import (
    Draft,
    EntryPayload,
    Insight,
    InsightDraft,
    InsightRequest,
    WeeklyReport,
    WeeklyReportDraft,
    WeeklyReportRequest,
    describe_validation_error,
)
from englog.ai.trends import with_previous
from englog.domain.localtime import zone
from englog.resilience.breaker import BreakerPolicy, CircuitBreaker, CircuitOpenError
from englog.resilience.retry import Retrier, RetryPolicy

log = structlog.get_logger("englog.ai")
D = TypeVar("D", bound=Draft)
T = TypeVar("T")

# Retries inside one task attempt: the server retries the task itself later on.
LLM_RETRY_POLICY = RetryPolicy(max_attempts=3, initial_delay_s=0.5, max_delay_s=8.0)


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    content: str
    truncated: bool  # ended by the token limit (done_reason "length")
    logprobs: Sequence[confidence.TokenLogprob] | None = None


def _retry_on(exc: BaseException) -> bool:
    return isinstance(exc, AIUnavailable) and not isinstance(exc, AICircuitOpen)


def _breaker_failure(exc: BaseException) -> bool:
    return isinstance(exc, AIUnavailable)


class LLMBackend:
    """Base of the LLM backends; see the module docstring."""

    name = "llm"

    def __init__(
        self,
        url: str,
        model: str,
        *,
        timeouts: AITimeouts | None = None,
        options: ModelOptions | None = None,
        max_repairs: int = 2,
        retry: RetryPolicy = LLM_RETRY_POLICY,
        breaker: BreakerPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.timeouts = timeouts or AITimeouts()
        self.options = options or ModelOptions()
        self.max_repairs = max_repairs
        self.budget = PromptBudget(self.options.num_ctx, self.options.num_predict)
        self.breaker = CircuitBreaker(
            self.name, breaker or BreakerPolicy(), is_failure=_breaker_failure, clock=clock
        )
        self.retrier = Retrier(retry, retry_on=_retry_on, sleep=sleep, clock=clock)
        self._loaded = False  # a generation succeeded: the model is in memory
        self._log = log.bind(backend=self.name, model=model)

    # --- to implement ------------------------------------------------------------
    async def _chat_once(
        self, messages: list[dict[str, str]], schema: dict[str, Any]
    ) -> ChatAnswer:
        raise NotImplementedError

    async def _probe(self) -> dict[str, Any]:
        """Ask the server what it serves (never a generation): at least `model_present`."""
        raise NotImplementedError

    # Errors a probe can meet beyond a timeout; each backend names its client's.
    PROBE_ERRORS: tuple[type[Exception], ...] = (ConnectionError, ValueError)

    def _probe_error(self, exc: Exception) -> str:
        return f"{type(exc).__name__}: {exc}"

    def _missing_model(self) -> str:
        return f"model {self.model!r} not served"

    # --- health ------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        """Whether the server answers and serves the model, within health_s."""
        out: dict[str, Any] = {
            "backend": self.name,
            "url": self.url,
            "model": self.model,
            "breaker": self.breaker_state(),
        }
        try:
            async with asyncio.timeout(self.timeouts.health_s):
                out |= await self._probe()
        except TimeoutError:
            error = f"no answer within {self.timeouts.health_s:g} s"
            return out | {"status": "unhealthy", "error": error}
        except self.PROBE_ERRORS as exc:
            return out | {"status": "unhealthy", "error": self._probe_error(exc)}
        if not out.get("model_present"):
            return out | {"status": "unhealthy", "error": self._missing_model()}
        return out | {"status": "healthy" if self.breaker.allows_calls() else "open"}

    async def aclose(self) -> None:
        """Release connections; the backend is not usable afterwards."""

    # --- availability ------------------------------------------------------------
    def usable(self) -> tuple[bool, str]:
        """False while the breaker refuses calls, with when it will probe again."""
        if self.breaker.allows_calls():
            return True, ""
        wait = math.ceil(self.breaker.stats().seconds_until_half_open)
        return False, f"{self.name} circuit open, next probe in {wait} s"

    def breaker_state(self) -> str:
        return str(self.breaker.state)

    # --- one call, bounded, retried, guarded ------------------------------------------
    async def _timed(
        self, messages: list[dict[str, str]], schema: dict[str, Any], timeout_s: float
    ) -> ChatAnswer:
        limit = timeout_s if self._loaded else max(timeout_s, self.timeouts.model_load_s)
        try:
            async with asyncio.timeout(limit):
                answer = await self._chat_once(messages, schema)
        except TimeoutError as exc:
            raise AIUnavailable(f"{self.name} did not answer within {limit:g} s") from exc
        self._loaded = True
        return answer

    async def _guarded(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self.breaker.call(fn)
        except CircuitOpenError as exc:
            wait = math.ceil(exc.retry_after_s)
            message = f"{self.name} circuit open, next probe in {wait} s"
            raise AICircuitOpen(message, exc.retry_after_s) from exc

    async def _chat(
        self, messages: list[dict[str, str]], schema: dict[str, Any], timeout_s: float
    ) -> ChatAnswer:
        async def attempt() -> ChatAnswer:
            return await self._guarded(lambda: self._timed(messages, schema, timeout_s))

        return await self.retrier.call(f"{self.name}.chat", attempt)

    # --- structured answers --------------------------------------------------------
    async def _draft(
        self, prompt: Prompt, model: type[D], timeout_s: float, facts: Facts
    ) -> tuple[D, ChatAnswer]:
        """A valid draft with its references filled in, asking again with the problem
        after each invalid answer (an unknown reference or name is one)."""
        messages = list(prompt.messages)
        schema = answer_schema(model, facts)
        problem = ""
        for round_ in range(1, self.max_repairs + 2):
            answer = await self._chat(messages, schema, timeout_s)
            try:
                if answer.truncated:
                    raise ValueError(TRUNCATED)
                draft = model.model_validate_json(answer.content)
                finish(draft, facts)  # raises on an unknown reference or name
                return draft, answer
            except ValidationError as exc:
                problem = describe_validation_error(exc)
            except ValueError as exc:
                problem = str(exc)
            self._log.warning("llm_invalid_answer", round=round_, problem=problem, confidence=0.0)
            messages += [{"role": "assistant", "content": answer.content}, repair_message(problem)]
        raise AIInvalidAnswer(
            f"{self.name} model {self.model!r} answered outside the schema "
            f"{self.max_repairs + 1} times; last problem: {problem}"
        )

    async def _written(
        self,
        prompt: Prompt,
        model: type[Draft],
        timeout_s: float,
        facts: Facts,
        entries: Sequence[EntryPayload],
        claims: str,
        language: str,
    ) -> dict[str, Any]:
        """A valid draft as result fields, with its computed confidence. `claims` names
        the draft's list (key points, highlights) whose figures are checked; it is kept
        under that name (recommendations are advice, not claims)."""
        raw, answer = await self._draft(prompt, model, timeout_s, facts)
        draft = finish(raw, facts)
        points: list[str] = getattr(draft, claims)
        texts, references = checkable(raw)
        scored = confidence.assess(
            facts,
            texts,
            draft.cited_entry_ids,
            prompt.entry_ids,
            draft.self_confidence,
            prompt.detail_share,
            answer.logprobs,
            names=entry_names(entries),
            language=language,
            findings=field_findings(draft, facts),
            entries=entries,
            references=references,
        )
        cited = [i for i in dict.fromkeys(draft.cited_entry_ids) if i in prompt.entry_ids]
        return {
            "title": draft.title,
            "summary": draft.summary,
            "recommendations": draft.recommendations,
            "backend": self.name,
            "model": self.model,
            "confidence": scored.confidence,
            "confidence_components": scored.components,
            "unsupported_claims": scored.unsupported_claims,
            "facts": facts.as_dict(),
            "entry_count": facts.entry_count,
            "cited_entry_ids": cited,
            claims: points,
        }

    async def generate_insight(self, req: InsightRequest) -> Insight:
        if not req.entries:
            raise AINonRetriable("an insight needs at least one entry")
        facts = with_previous(
            compute_facts(req.entries, req.period_start, req.period_end, req.time_zone),
            req.previous_entries,
            time_zone=req.time_zone,
        )
        kind = str(req.insight_type)
        prompt = insight_prompt(
            kind, facts, req.entries, req.context, self.budget, language=req.language
        )
        fields = await self._written(
            prompt,
            InsightDraft,
            self.timeouts.insight_s,
            facts,
            req.entries,
            "key_points",
            req.language,
        )
        return Insight(
            **fields,
            insight_type=req.insight_type,
            period_start=facts.period_start,
            period_end=facts.period_end,
        )

    async def generate_weekly_report(self, req: WeeklyReportRequest) -> WeeklyReport:
        facts = compute_facts(req.entries, req.week_start, req.week_end, req.time_zone)
        facts = with_previous(facts, req.previous_entries, time_zone=req.time_zone)
        tz = zone(req.time_zone)
        in_week = [e for e in req.entries if in_range(e, req.week_start, req.week_end, tz)]
        if not in_week:
            raise AINonRetriable(f"no entries between {req.week_start} and {req.week_end}")
        prompt = report_prompt(
            req.week_start, req.week_end, facts, in_week, self.budget, language=req.language
        )
        fields = await self._written(
            prompt,
            WeeklyReportDraft,
            self.timeouts.report_s,
            facts,
            in_week,
            "highlights",
            req.language,
        )
        return WeeklyReport(
            **fields,
            week_start=req.week_start,
            week_end=req.week_end,
            time_breakdown=facts.minutes_by_type,
        )
