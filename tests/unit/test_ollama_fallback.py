"""`--ai-fallback degrade|wait`, `make_backend` and how task handlers see AI errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from englog.ai.backend import make_backend
from englog.ai.builtin import BuiltinBackend
from englog.ai.confidence import DEGRADED_FACTOR
from englog.ai.config import AIConfig, AITimeouts
from englog.ai.errors import AIModelMissing
from englog.ai.fallback import FallbackBackend
from englog.ai.ollama import OllamaBackend
from englog.ai.schemas import WeeklyReportRequest
from englog.resilience.breaker import BreakerPolicy
from englog.resilience.retry import RetryPolicy
from englog.tasks.base import TaskContext, TaskError
from englog.tasks.insight import WAIT_MARGIN_S, insight_generation
from tests.support import fake_ollama as fo
from tests.support.fake_ollama import FakeOllama
from tests.unit.test_ollama_backend import insight_request, sample_entries

ONE_SHOT = RetryPolicy(max_attempts=1)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with fo.running() as server:
        yield server


def ollama(fake: FakeOllama, **kw: Any) -> OllamaBackend:
    kw.setdefault("retry", ONE_SHOT)
    kw.setdefault("breaker", BreakerPolicy(failure_threshold=1, open_timeout_s=60.0))
    return OllamaBackend(fake.url, kw.pop("model", fo.DEFAULT_MODEL), **kw)


async def test_degrade_uses_the_llm_while_it_works(fake: FakeOllama) -> None:
    backend = FallbackBackend(ollama(fake))
    result = await backend.generate_insight(insight_request())
    assert result.backend == "ollama" and not result.degraded
    assert backend.usable() == (True, "")
    await backend.aclose()


async def test_degrade_answers_with_builtin_when_the_llm_fails(fake: FakeOllama) -> None:
    backend = FallbackBackend(ollama(fake))
    fake.script(fo.status(503))
    result = await backend.generate_insight(insight_request())
    reference = await BuiltinBackend().generate_insight(insight_request())
    assert result.backend == "builtin" and result.degraded
    assert result.degraded_reason is not None and "503" in result.degraded_reason
    assert result.confidence == round(reference.confidence * DEGRADED_FACTOR, 3)
    assert result.confidence_components["degraded_factor"] == DEGRADED_FACTOR
    assert backend.usable() == (True, "")  # still takes AI tasks while the circuit is open
    assert not backend.primary.usable()[0]
    calls = len(fake.calls())
    report = await backend.generate_weekly_report(
        WeeklyReportRequest(
            week_start=date(2026, 11, 16), week_end=date(2026, 11, 22), entries=sample_entries()
        )
    )
    assert report.degraded and "circuit open" in (report.degraded_reason or "")
    assert len(fake.calls()) == calls  # the open circuit was not called
    await backend.aclose()


async def test_degrade_serves_a_missing_model_and_says_how_to_fix_it(fake: FakeOllama) -> None:
    """Issue 15: with degrade, a missing model is served by the builtin backend, and the
    result's reason keeps the `ollama pull` hint; without degrade it stays non-retriable."""
    backend = FallbackBackend(ollama(fake, model="absent:1b"))
    insight = await backend.generate_insight(insight_request())
    assert insight.degraded and "ollama pull absent:1b" in (insight.degraded_reason or "")
    await backend.aclose()
    bare = ollama(fake, model="absent:1b")
    with pytest.raises(AIModelMissing, match="ollama pull absent:1b"):
        await bare.generate_insight(insight_request())
    await bare.aclose()


async def test_wait_mode_is_the_bare_backend_and_reports_unusable(fake: FakeOllama) -> None:
    backend = make_backend(AIConfig(backend="ollama", url=fake.url, fallback="wait"))
    assert isinstance(backend, OllamaBackend)
    fake.script(*[fo.status(500)] * 6)
    for _ in range(2):  # 3 attempts each; the default breaker opens at the 5th failure
        with pytest.raises(TaskError):
            await run_insight(backend)
    assert len(fake.calls()) == 5
    ok, reason = backend.usable()
    assert not ok and reason.startswith("ollama circuit open, next probe in")
    await backend.aclose()


def test_make_backend_builds_what_the_config_asks() -> None:
    assert isinstance(make_backend(), BuiltinBackend)
    config = AIConfig(
        backend="ollama",
        url="http://127.0.0.1:1",
        model="m:1",
        fallback="degrade",
        timeouts=AITimeouts(insight_s=5),
    )
    backend = make_backend(config)
    assert isinstance(backend, FallbackBackend)
    assert isinstance(backend.primary, OllamaBackend)
    assert backend.primary.model == "m:1" and backend.primary.timeouts.insight_s == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "gpt"}, "--ai must be one of builtin, ollama, openai"),
        ({"fallback": "maybe"}, "--ai-fallback must be one of wait, degrade"),
        ({"url": "localhost:11434"}, "must start with http"),
        ({"model": " "}, "--model must not be empty"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AIConfig(**kwargs)


# --- task handlers translate AI errors ----------------------------------------------------


async def run_insight(backend: Any, deadline_in_s: float = WAIT_MARGIN_S + 0.5) -> dict[str, Any]:
    """A handler run whose deadline leaves it half a second of waiting for the LLM."""
    ctx = TaskContext("t1", "insight_generation", 1, deadline=time.time() + deadline_in_s)
    ctx.ai = backend
    payload = insight_request().model_dump(mode="json")
    return await insight_generation(ctx, payload)  # type: ignore[no-any-return]


async def test_handler_marks_unavailable_retriable_and_missing_model_not(fake: FakeOllama) -> None:
    fake.script(fo.status(503))
    with pytest.raises(TaskError) as busy:
        await run_insight(ollama(fake))
    assert busy.value.retriable and "503" in str(busy.value)
    with pytest.raises(TaskError) as missing:
        await run_insight(ollama(fake, model="nope:1b"))
    assert not missing.value.retriable and "ollama pull nope:1b" in str(missing.value)
    result = await run_insight(ollama(fake))
    assert result["backend"] == "ollama" and result["degraded"] is False


async def test_handler_waits_for_the_llm_instead_of_spending_its_attempt(
    fake: FakeOllama,
) -> None:
    """`wait`: an outage shorter than the deadline costs time, not an attempt."""
    fake.script(fo.status(503))
    backend = ollama(fake, breaker=BreakerPolicy(failure_threshold=1, open_timeout_s=0.3))
    result = await run_insight(backend, deadline_in_s=WAIT_MARGIN_S + 20)
    assert result["backend"] == "ollama"
    assert len(fake.calls()) == 2  # the failed call, then one probe once the breaker allowed it
    await backend.aclose()
