"""The OpenAI-compatible backend (`--ai openai`) against the fake server's `/v1` API:
same schema, repairs, retries and error mapping as the ollama backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from englog.ai.backend import make_backend
from englog.ai.config import AIConfig
from englog.ai.errors import AINonRetriable
from englog.ai.openai_compat import OpenAICompatBackend, api_base
from englog.resilience.retry import RetryPolicy
from tests.support import fake_ollama as fo
from tests.support.fake_ollama import FakeOllama
from tests.unit.test_ollama_backend import insight_request

FAST = RetryPolicy(max_attempts=3, initial_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with fo.running() as server:
        yield server


def test_api_base_accepts_root_or_v1() -> None:
    assert api_base("http://h:8000") == api_base("http://h:8000/v1/") == "http://h:8000/v1"


async def test_insight_via_chat_completions(fake: FakeOllama) -> None:
    backend = make_backend(AIConfig(backend="openai", url=fake.url))
    assert isinstance(backend, OpenAICompatBackend)
    fake.script(fo.truncated(), path="/v1/chat/completions")
    result = await backend.generate_insight(insight_request())
    calls = fake.calls("/v1/chat/completions")
    assert len(calls) == 2  # the truncated answer was asked again
    assert calls[0].body["response_format"]["json_schema"]["schema"]["title"] == "InsightDraft"
    assert "token limit" in calls[1].body["messages"][-1]["content"]
    assert result.backend == "openai" and result.confidence_components["grounding"] == 1.0
    assert (await backend.health())["status"] == "healthy"
    await backend.aclose()


async def test_errors_map_like_ollama(fake: FakeOllama) -> None:
    backend = OpenAICompatBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    fake.script(fo.status(503), fo.reset(), path="/v1/chat/completions")
    assert (await backend.generate_insight(insight_request())).backend == "openai"
    assert len(fake.calls("/v1/chat/completions")) == 3
    missing = OpenAICompatBackend(fake.url, "nope", retry=FAST)
    with pytest.raises(AINonRetriable, match="not found"):
        await missing.generate_insight(insight_request())
    assert (await missing.health())["status"] == "unhealthy"
    await backend.aclose()
    await missing.aclose()
