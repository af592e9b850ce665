"""The ollama backend against a real local HTTP server speaking Ollama's API
(tests/support/fake_ollama.py): requests, structured answers, retries where they
belong and nowhere else, repairs of invalid answers, timeouts and the breaker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import pytest

from englog.ai.config import AITimeouts, ModelOptions
from englog.ai.errors import AICircuitOpen, AIInvalidAnswer, AINonRetriable, AIUnavailable
from englog.ai.ollama import OllamaBackend
from englog.ai.sample import load_sample_week
from englog.ai.schemas import InsightRequest, InsightType, WeeklyReportRequest
from englog.resilience.breaker import BreakerPolicy, BreakerState
from englog.resilience.retry import RetryPolicy
from tests.support import fake_ollama as fo
from tests.support.fake_ollama import FakeOllama

MODEL = fo.DEFAULT_MODEL
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay_s=0.01, max_delay_s=0.02)


def sample_entries() -> list[dict[str, Any]]:
    entries = load_sample_week()
    for i, entry in enumerate(entries):
        entry["id"] = f"entry-{i:03d}"
    return entries


def insight_request(kind: str = "productivity", **kw: Any) -> InsightRequest:
    return InsightRequest(insight_type=kind, entries=sample_entries(), **kw)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with fo.running() as server:
        yield server


def make_backend(fake: FakeOllama, **kw: Any) -> OllamaBackend:
    kw.setdefault("retry", FAST_RETRY)
    return OllamaBackend(fake.url, kw.pop("model", MODEL), **kw)


@pytest.fixture
async def backend(fake: FakeOllama) -> AsyncIterator[OllamaBackend]:
    b = make_backend(fake)
    yield b
    await b.aclose()


# --- the request and the answer ----------------------------------------------------------


async def test_insight_request_carries_schema_options_and_real_entries(fake: FakeOllama) -> None:
    options = ModelOptions(temperature=0.1, seed=7, num_ctx=16384, num_predict=512, keep_alive="5m")
    b = make_backend(fake, options=options)
    result = await b.generate_insight(insight_request("team_collaboration", context="reviews?"))
    await b.aclose()
    (call,) = fake.calls()
    body = call.body
    assert body["model"] == MODEL and body["stream"] is False and body["think"] is False
    assert body["format"]["properties"].keys() >= {"title", "key_points", "cited_entry_ids"}
    assert body["options"] == {"temperature": 0.1, "seed": 7, "num_ctx": 16384, "num_predict": 512}
    assert body["keep_alive"] == "5m"
    prompt = call.prompt()
    assert "entry-000" in prompt and "entry-042" in prompt and "team collaboration" in prompt
    assert '"total_minutes":' in prompt and "reviews?" in prompt
    assert result.backend == "ollama" and result.model == MODEL
    assert result.insight_type == InsightType.TEAM_COLLABORATION
    assert result.cited_entry_ids == ["entry-000", "entry-001", "entry-002"]
    assert result.facts["entry_count"] == 43 and result.entry_count == 43
    assert 0.0 < result.confidence < 1.0
    assert result.confidence_components["grounding"] == 1.0


async def test_weekly_report_parses_into_its_model(
    fake: FakeOllama, backend: OllamaBackend
) -> None:
    req = WeeklyReportRequest(
        week_start=date(2026, 11, 16), week_end=date(2026, 11, 22), entries=sample_entries()
    )
    report = await backend.generate_weekly_report(req)
    assert "highlights" in fake.calls()[0].body["format"]["properties"]
    assert report.highlights and report.backend == "ollama"
    assert report.time_breakdown == report.facts["minutes_by_type"]
    assert "2026-11-16 to 2026-11-22" in fake.calls()[0].prompt()


async def test_logprobs_feed_the_confidence_when_the_server_sends_them(fake: FakeOllama) -> None:
    b = make_backend(fake)
    without = await b.generate_insight(insight_request())
    fake.logprobs = [-0.01, -0.02, -3.0]
    with_lp = await b.generate_insight(insight_request())
    await b.aclose()
    assert fake.calls()[0].body["logprobs"] is True
    assert "token_probability" not in without.confidence_components
    assert with_lp.confidence_components["token_probability"] == pytest.approx(0.364, abs=1e-3)
    assert with_lp.confidence < without.confidence  # an unsure model lowers it


# --- retries: where they belong ------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [fo.status(500), fo.status(503, "server busy"), fo.reset(), fo.malformed_body()],
    ids=["500", "503", "reset", "malformed-body"],
)
async def test_transient_failures_are_retried(
    fake: FakeOllama, backend: OllamaBackend, fault: fo.Fault
) -> None:
    fake.script(fault, fault)
    result = await backend.generate_insight(insight_request())
    assert len(fake.calls()) == 3
    assert result.backend == "ollama"
    assert backend.breaker.stats().total_failures == 2


async def test_persistent_5xx_gives_up_after_the_policy(
    fake: FakeOllama, backend: OllamaBackend
) -> None:
    fake.script(*[fo.status(503)] * 5)
    with pytest.raises(AIUnavailable, match=r"503 \(server busy\)"):
        await backend.generate_insight(insight_request())
    assert len(fake.calls()) == FAST_RETRY.max_attempts


async def test_refused_connection_is_retried_then_unavailable(fake: FakeOllama) -> None:
    b = make_backend(fake)
    fake.stop()
    with pytest.raises(AIUnavailable, match="unreachable"):
        await b.generate_insight(insight_request())
    assert b.retrier.stats()["ollama.chat"].attempts == 3
    await b.aclose()


async def test_other_4xx_is_not_retried(fake: FakeOllama, backend: OllamaBackend) -> None:
    fake.script(fo.status(400, "invalid format"))
    with pytest.raises(AINonRetriable, match=r"400.*invalid format"):
        await backend.generate_insight(insight_request())
    assert len(fake.calls()) == 1
    assert backend.breaker.stats().total_failures == 0  # the server answered


async def test_missing_model_is_non_retriable_with_the_pull_hint(fake: FakeOllama) -> None:
    b = make_backend(fake, model="qwen3:8b")
    with pytest.raises(AINonRetriable, match="ollama pull qwen3:8b"):
        await b.generate_insight(insight_request())
    assert len(fake.calls()) == 1 and b.breaker.state is BreakerState.CLOSED
    await b.aclose()


# --- timeouts ----------------------------------------------------------------------------


async def test_first_call_may_wait_for_the_model_load_later_ones_may_not(fake: FakeOllama) -> None:
    timeouts = AITimeouts(insight_s=0.3, model_load_s=3.0)
    b = make_backend(fake, timeouts=timeouts)
    fake.script(fo.delay(0.6))  # a model load: longer than insight_s, allowed the first time
    await b.generate_insight(insight_request())
    assert len(fake.calls()) == 1
    fake.script(fo.delay(0.6))  # now a stall: timed out and retried
    result = await b.generate_insight(insight_request())
    assert len(fake.calls()) == 3 and result.backend == "ollama"
    assert "did not answer within 0.3 s" in (b.retrier.stats()["ollama.chat"].last_error or "")
    await b.aclose()


# --- invalid answers: retried with the error fed back ---------------------------------------


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (fo.content('{"title": "Half'), "Invalid JSON"),
        (fo.content(json.dumps({"title": "Hi", "summary": "s"})), "key_points: Field required"),
        (fo.truncated(), "cut off by the token limit"),
    ],
    ids=["malformed-json", "schema-violation", "done-reason-length"],
)
async def test_invalid_answer_is_asked_again_with_the_problem(
    fake: FakeOllama, backend: OllamaBackend, fault: fo.Fault, problem: str
) -> None:
    fake.script(fault)
    result = await backend.generate_insight(insight_request())
    first, second = fake.calls()
    messages = second.body["messages"]
    assert len(messages) == len(first.body["messages"]) + 2
    assert messages[-2]["role"] == "assistant"
    assert problem in messages[-1]["content"]
    assert result.confidence > 0
    assert backend.breaker.stats().total_failures == 0  # the peer answered


async def test_repairs_are_bounded(fake: FakeOllama) -> None:
    b = make_backend(fake, max_repairs=1)
    fake.script(fo.content("not json"), fo.content("still not json"), fo.content("never"))
    with pytest.raises(AIInvalidAnswer, match="outside the schema 2 times"):
        await b.generate_insight(insight_request())
    assert len(fake.calls()) == 2 and fake.pending_faults == 1
    await b.aclose()


# --- the breaker ----------------------------------------------------------------------------


async def test_breaker_opens_refuses_half_opens_and_closes(fake: FakeOllama) -> None:
    clock = Clock()
    policy = BreakerPolicy(failure_threshold=2, success_threshold=2, open_timeout_s=30.0)
    b = make_backend(fake, breaker=policy, clock=clock, retry=RetryPolicy(max_attempts=1))
    changes: list[tuple[str, str]] = []
    b.breaker.add_listener(lambda e: changes.append((e.old.value, e.new.value)))
    assert b.usable() == (True, "")
    fake.script(fo.status(500), fo.status(502))
    for _ in range(2):
        with pytest.raises(AIUnavailable):
            await b.generate_insight(insight_request())
    assert b.breaker.state is BreakerState.OPEN
    assert b.usable() == (False, "ollama circuit open, next probe in 30 s")
    with pytest.raises(AICircuitOpen):
        await b.generate_insight(insight_request())
    assert len(fake.calls()) == 2  # refused without a request
    clock.now += 30.0
    assert b.usable()[0] and b.breaker.state is BreakerState.HALF_OPEN
    await b.generate_insight(insight_request())
    assert b.breaker.state is BreakerState.HALF_OPEN  # one success of two
    await b.generate_insight(insight_request())
    assert b.breaker.state is BreakerState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    await b.aclose()


async def test_failed_probe_reopens(fake: FakeOllama) -> None:
    clock = Clock()
    policy = BreakerPolicy(failure_threshold=1, open_timeout_s=5.0)
    b = make_backend(fake, breaker=policy, clock=clock, retry=RetryPolicy(max_attempts=1))
    fake.script(fo.reset(), fo.reset())
    with pytest.raises(AIUnavailable):
        await b.generate_insight(insight_request())
    clock.now += 5.0
    with pytest.raises(AIUnavailable):
        await b.generate_insight(insight_request())
    assert b.breaker.state is BreakerState.OPEN and not b.usable()[0]
    await b.aclose()


# --- health -------------------------------------------------------------------------------


async def test_health_uses_version_and_tags_never_a_generation(fake: FakeOllama) -> None:
    b = make_backend(fake)
    health = await b.health()
    assert health["status"] == "healthy" and health["version"] == "0.12.11"
    assert health["model_present"] is True
    missing = make_backend(fake, model="mistral")
    assert (await missing.health())["error"] == "model missing: run `ollama pull mistral`"
    assert {r.path for r in fake.requests} == {"/api/version", "/api/tags"}
    fake.stop()
    down = await b.health()
    assert down["status"] == "unhealthy" and "unreachable" in down["error"]
    await b.aclose()
    await missing.aclose()


async def test_health_is_bounded_in_time(fake: FakeOllama) -> None:
    b = make_backend(fake, timeouts=AITimeouts(health_s=0.2))
    fake.script(fo.delay(2.0), path="/api/version")
    health = await b.health()
    assert health == health | {"status": "unhealthy", "error": "no answer within 0.2 s"}
    await b.aclose()
