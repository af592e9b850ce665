"""Prompts: built from the real entries and facts, per insight type, bounded in size,
and when entries do not fit every one is still accounted for."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from englog.ai.analytics import compute_facts
from englog.ai.prompts import (
    CHARS_PER_TOKEN,
    FOCUS,
    MAX_DESCRIPTION_CHARS,
    PromptBudget,
    entries_block,
    insight_prompt,
    repair_message,
    report_prompt,
)
from englog.ai.sample import load_sample_week
from englog.ai.schemas import EntryPayload, InsightType


def sample() -> list[EntryPayload]:
    return [
        EntryPayload.model_validate(e | {"id": f"s{i:02d}"})
        for i, e in enumerate(load_sample_week())
    ]


def many(n: int) -> list[EntryPayload]:
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    types = ["development", "meeting", "code_review", "debugging"]
    return [
        EntryPayload(
            id=f"bulk-{i:05d}",
            title=f"Task number {i} on the billing service",
            description="Worked through the details of the change. " * 20,
            type=types[i % 4],
            project="billing",
            tags=["python", "billing"],
            start_time=start + timedelta(days=i % 20, minutes=30 * (i // 20)),
            end_time=start + timedelta(days=i % 20, minutes=30 * (i // 20) + 25),
            value_rating=["low", "medium", "high", "critical"][i % 4],
        )
        for i in range(n)
    ]


def user_text(prompt: Any) -> str:
    return str(prompt.messages[-1]["content"])


@pytest.mark.parametrize("kind", [t.value for t in InsightType])
def test_insight_prompt_carries_entries_facts_and_the_type_focus(kind: str) -> None:
    entries = sample()
    facts = compute_facts(entries)
    prompt = insight_prompt(kind, facts, entries, context="How were my mornings?")
    text = user_text(prompt)
    assert FOCUS[kind] in text and "How were my mornings?" in text
    assert all(f"id={e.id}" in text for e in entries)
    assert f'"total_minutes":{facts.total_minutes}' in text
    assert prompt.entry_ids == {e.id for e in entries}
    assert (prompt.entries_in_full, prompt.entries_summarised) == (len(entries), 0)
    assert "cited_entry_ids" in prompt.messages[0]["content"]  # asks to cite


def test_entry_line_has_the_fields_a_narrative_uses() -> None:
    entry = sample()[0]
    text = user_text(insight_prompt("productivity", compute_facts([entry]), [entry]))
    assert f"{entry.start_time:%Y-%m-%d %a %H:%M}" in text
    assert f"value={entry.value_rating}" in text and entry.title in text


def test_report_prompt_names_the_week() -> None:
    entries = sample()
    start, end = date(2026, 11, 16), date(2026, 11, 22)
    prompt = report_prompt(start, end, compute_facts(entries, start, end), entries)
    assert "2026-11-16 to 2026-11-22" in user_text(prompt) and "highlights" in user_text(prompt)


def test_long_descriptions_are_shortened_visibly() -> None:
    entry = many(1)[0]
    text = entries_block([entry], 10_000).text
    assert len(entry.description or "") > MAX_DESCRIPTION_CHARS + 400
    assert "[...]" in text and len(text) < MAX_DESCRIPTION_CHARS + 400


def test_over_budget_entries_are_summarised_not_cut() -> None:
    entries = many(600)
    budget = PromptBudget(num_ctx=8192, num_predict=1024)
    prompt = insight_prompt("patterns", compute_facts(entries), entries, budget=budget)
    text = user_text(prompt)
    limit = (8192 - 1024) * CHARS_PER_TOKEN
    assert len(text) + len(prompt.messages[0]["content"]) < limit
    assert "600 entries do not fit" in text
    # every entry is counted in the summary
    counts = [int(n) for n in re.findall(r": (\d+) entries, \d+ min", text)]
    assert sum(counts) == 600
    assert prompt.entries_in_full + prompt.entries_summarised == 600
    assert 0 < prompt.entries_in_full < 600
    assert f"ENTRIES IN FULL ({prompt.entries_in_full} of 600)" in text
    # the entries in full are the most valuable ones
    full_part = text.split("ENTRIES IN FULL")[1]
    assert "value=critical" in full_part and "value=low" not in full_part
    assert 0.0 < prompt.detail_share < 1.0


def test_a_bigger_context_shows_more() -> None:
    entries = many(600)
    facts = compute_facts(entries)
    small = insight_prompt("patterns", facts, entries, budget=PromptBudget(8192, 1024))
    large = insight_prompt("patterns", facts, entries, budget=PromptBudget(131072, 1024))
    assert large.entries_in_full > small.entries_in_full


def test_a_tiny_budget_still_accounts_for_every_entry() -> None:
    entries = many(3000)
    text = entries_block(entries, 600).text
    counts = [int(n) for n in re.findall(r": (\d+) entries, \d+ min", text)]
    assert sum(counts) == 3000
    assert "bulk-" not in text.split("ENTRIES IN FULL")[0]  # ids did not fit the summary


def test_budget_that_leaves_no_room_is_refused() -> None:
    with pytest.raises(ValueError, match="raise num_ctx"):
        PromptBudget(num_ctx=1500, num_predict=1024)


def test_repair_message_feeds_the_problem_back() -> None:
    message = repair_message("key_points: Field required")
    assert message["role"] == "user" and "key_points: Field required" in message["content"]
