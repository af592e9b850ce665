"""Issue 21 item 1: figures by reference, against the stand-in servers. The model writes
`{total_hours}`, englog fills in the exact value; an unknown reference is an invalid
answer, asked again with the error; the schema sent enumerates the real projects,
activity types, tags and days (Ollama `format`, OpenAI `response_format` strict); an
answer in the older schema with literal figures is still accepted and judged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from englog.ai.analytics import compute_facts
from englog.ai.errors import AIInvalidAnswer
from englog.ai.ollama import OllamaBackend
from englog.ai.openai_compat import OpenAICompatBackend
from englog.ai.references import UnknownReference, render
from englog.ai.schemas import InsightRequest, WeeklyReportRequest
from englog.resilience.retry import RetryPolicy
from tests.support import fake_ollama as fo
from tests.support.fake_ollama import FakeOllama
from tests.unit.ai_week import WEEK, ZONE_NAME, payloads, previous_entries, week_entries

FAST = RetryPolicy(max_attempts=2, initial_delay_s=0.01, max_delay_s=0.02)
FACTS = compute_facts(payloads(week_entries()), *WEEK, ZONE_NAME)


def draft(**fields: Any) -> dict[str, Any]:
    return {
        "title": "{total_hours} logged",
        "summary": "You logged {total_hours}; {project_hours:atlas} went to atlas.",
        "key_points": ["Busiest day: {busiest_day} ({busiest_day_hours})."],
        "recommendations": [],
        "cited_entry_ids": ["w-01"],
        "self_confidence": 0.7,
    } | fields


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with fo.running() as server:
        yield server


def request(**kw: Any) -> InsightRequest:
    return InsightRequest(
        time_zone=ZONE_NAME, insight_type="productivity", entries=week_entries(), **kw
    )


def test_references_render_as_people_read_them() -> None:
    text = (
        "{total_hours} | {focus_share} | {busiest_day} | {project_minutes:atlas} | "
        "{type_share:code review} | {tag_entries:postgres} | {day_hours:Tuesday} | "
        "{meeting_count}"
    )
    assert render(text, FACTS) == "39.8 h | 75% | Thursday | 1260 min | 5% | 5 | 7.2 h | 12"
    with pytest.raises(UnknownReference, match=r"project_hours:zephyr.*known: atlas, orion"):
        render("{project_hours:zephyr}", FACTS)
    with pytest.raises(UnknownReference, match=r"\{total_weeks\} is not a reference"):
        render("{total_weeks}", FACTS)
    with pytest.raises(UnknownReference, match="no previous period"):
        render("{previous_total_hours}", FACTS)
    assert render("No braces here {not a ref}.", FACTS) == "No braces here {not a ref}."


async def test_a_reference_answer_renders_exact_figures(fake: FakeOllama) -> None:
    fake.script(fo.answer(draft(busiest_day="Thursday", top_project="atlas")))
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    result = await backend.generate_insight(request())
    await backend.aclose()
    assert result.title == "42.2 h logged"
    assert result.summary == "You logged 42.2 h; 21.0 h went to atlas."
    assert result.key_points == ["Busiest day: Thursday (9.0 h)."]
    assert result.unsupported_claims == []
    assert result.confidence_components["verification"] == 1.0


async def test_the_schema_sent_enumerates_the_real_names(fake: FakeOllama) -> None:
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    await backend.generate_insight(request())
    await backend.aclose()
    schema = fake.calls()[0].body["format"]
    props = schema["properties"]
    assert props["top_project"]["enum"] == ["atlas", "orion", None]
    assert props["busiest_day"]["enum"][:-1] == [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
    ]  # fmt: skip
    assert "code_review" in props["top_activity"]["enum"]
    assert {"postgres", "on-call", "atlas"} <= set(props["focus_areas"]["items"]["enum"])
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(props)
    prompt = fake.calls()[0].prompt()
    assert "{total_hours}" in prompt and "{project_hours:NAME}" in prompt
    assert "Write in English." in prompt


async def test_openai_response_format_is_strict_with_enumerations(fake: FakeOllama) -> None:
    fake.script(fo.answer(draft()), path="/v1/chat/completions")
    backend = OpenAICompatBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    result = await backend.generate_insight(request())
    await backend.aclose()
    sent = fake.calls("/v1/chat/completions")[0].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True
    schema = sent["json_schema"]["schema"]
    assert schema["properties"]["top_project"]["enum"] == ["atlas", "orion", None]
    assert result.summary == "You logged 42.2 h; 21.0 h went to atlas."


async def test_an_unknown_reference_is_asked_again_with_the_error(fake: FakeOllama) -> None:
    fake.script(fo.answer(draft(summary="Atlas took {project_hours:zephyr}.")), fo.answer(draft()))
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    result = await backend.generate_insight(request())
    await backend.aclose()
    _first, second = fake.calls()
    repair = second.body["messages"][-1]["content"]
    assert "unknown reference" in repair and "project_hours:zephyr" in repair
    assert result.summary == "You logged 42.2 h; 21.0 h went to atlas."


async def test_a_name_outside_the_enumeration_is_asked_again(fake: FakeOllama) -> None:
    bad = fo.answer(draft(top_project="zephyr"))
    fake.script(bad, bad, bad)
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    with pytest.raises(AIInvalidAnswer, match="top_project 'zephyr' is not one of"):
        await backend.generate_insight(request())
    await backend.aclose()


async def test_a_wrong_structured_field_is_an_unsupported_claim(fake: FakeOllama) -> None:
    fake.script(fo.answer(draft(busiest_day="Monday")))
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    result = await backend.generate_insight(request())
    await backend.aclose()
    assert any("busiest_day Monday" in line for line in result.unsupported_claims)


async def test_the_older_schema_with_literal_figures_is_accepted(fake: FakeOllama) -> None:
    """A small model ignoring references and the new fields: accepted, and judged."""
    old = {
        "title": "42.2 h logged",
        "summary": "You logged 42.2 h over 32 entries; focus work was 70%.",
        "key_points": ["Thursday was the busiest day (9.0 h)."],
        "recommendations": ["Protect mornings."],
        "cited_entry_ids": ["w-02"],
        "self_confidence": 0.6,
    }
    fake.script(fo.answer(old))
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    result = await backend.generate_insight(request())
    await backend.aclose()
    assert result.summary == old["summary"] and result.unsupported_claims == []
    assert result.confidence > 0.8


async def test_trend_references_need_the_previous_week(fake: FakeOllama) -> None:
    trend = draft(summary="You logged {total_hours}, {total_change_hours} on last week.")
    trend["highlights"] = trend.pop("key_points")
    fake.script(fo.answer(trend))
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL, retry=FAST)
    req = WeeklyReportRequest(
        time_zone=ZONE_NAME,
        week_start=WEEK[0],
        week_end=WEEK[1],
        entries=week_entries(),
        previous_entries=previous_entries(),
    )
    report = await backend.generate_weekly_report(req)
    await backend.aclose()
    assert report.summary == "You logged 39.8 h, +17.8 h on last week."
    assert report.facts["previous"]["total_minutes"] == 1320.0
    assert '"previous":' in fake.calls()[0].prompt()
