"""Issue 21: the facts behind specific advice and grounded trends (`englog.ai.patterns`,
`englog.ai.trends`), the narrative language setting, and claims the verifier reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from englog.ai.analytics import compute_facts
from englog.ai.claims import check_claims, entry_names
from englog.ai.language import mismatch
from englog.ai.ollama import OllamaBackend
from englog.ai.schemas import EntryPayload, InsightRequest
from englog.ai.trends import previous_range, with_previous
from tests.support import fake_ollama as fo
from tests.unit.ai_week import WEEK, ZONE_NAME, payloads, previous_entries, week_entries

ENTRIES = payloads(week_entries())
FACTS = compute_facts(ENTRIES, *WEEK, ZONE_NAME)


def test_recurring_meetings_night_work_and_learning_topics() -> None:
    assert [(r["title"], r["days"], r["usual_start"]) for r in FACTS.recurring_meetings] == [
        ("Daily standup", 5, "09:00"),
        ("Orion sync", 3, "16:30"),
    ]
    [night] = FACTS.night_entries
    # 22:00 Sunday to 02:30 Monday: the report's week ends at midnight, so 2 h of its
    # night are in it (the rest belongs to the next week's report).
    assert night["crosses_midnight"] and night["night_minutes"] == 120.0
    assert night["minutes"] == 270.0 and night["minutes_in_range"] == 120.0
    assert FACTS.cross_midnight_entries == 1 and FACTS.night_minutes == 120.0
    assert FACTS.learning_topics[:2] == ["postgres", "query-planning"]
    assert FACTS.meeting_count == 12 and FACTS.tag_entries["postgres"] == 5
    assert FACTS.overlapping_entries == 0 and FACTS.weekend_minutes == 120.0
    assert FACTS.quietest_day == "2026-11-15"


def test_previous_period_has_the_same_length_just_before() -> None:
    assert previous_range(date(2026, 11, 9), date(2026, 11, 15)) == (
        date(2026, 11, 2),
        date(2026, 11, 8),
    )
    assert previous_range(date(2026, 11, 9), date(2026, 11, 9)) == (
        date(2026, 11, 8),
        date(2026, 11, 8),
    )
    grounded = with_previous(FACTS, payloads(previous_entries()))
    assert grounded.previous is not None and grounded.previous["total_minutes"] == 1320.0
    assert grounded.changes["total_minutes_change"] == 1065.0
    assert grounded.changes["meeting_minutes_change"] == -90.0
    assert with_previous(FACTS, None).previous is None
    quiet = with_previous(FACTS, [])  # an empty week before is a fact too
    assert quiet.previous is not None and quiet.previous["total_minutes"] == 0.0
    assert "total_change_ratio" not in quiet.changes


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("You logged 39.8 h, up from 22.0 h last week.", True),
        ("Meetings fell compared with last week.", True),
        ("Meeting time rose compared with last week.", False),
        ("Total time was up by 17.8 h on the week before.", True),
        ("You logged 39.8 h, up from 30 h last week.", False),
    ],
)
def test_trends_are_checked_against_the_previous_week(text: str, holds: bool) -> None:
    grounded = with_previous(FACTS, payloads(previous_entries()))
    check = check_claims([text], grounded)
    assert (check.failures == 0) is holds, check.unsupported()
    assert check_claims([text], FACTS).failures >= 1  # no earlier week given: unsupported


@pytest.mark.parametrize(
    "text",
    [
        "Tuesday came in at 7 h 15 min.",
        "You reviewed PR #412 and PR #418, then shipped the migration to v2.14.",
        "12 meetings and 5 entries tagged postgres.",
        "1,590 minutes of high or critical work.",
        "Atlas took 21 hours while Orion got 16.75 hours.",
        "Thursday was your busiest day; Sunday was the quietest.",
        "You released export API 1.3 on Friday.",
        "The 1:1 with your manager took 30 minutes on Tuesday.",
        "Webhook errors dropped after the CA bundle fix.",
        "Compared with meetings, focus took most of the time.",
        "Prior to the release you wrote the runbook.",
        "On Saturday you rested.",
        "You spent 2 h on follow-up work and the export API project.",
        "The 2 debugging sessions took 4.5 h in total.",
        "Your 5-day streak ran from Monday to Friday; entries averaged 74.5 minutes.",
    ],
)
def test_faithful_sentences_hold(text: str) -> None:
    check = check_claims([text], FACTS, names=entry_names(ENTRIES), entries=ENTRIES)
    assert check.failures == 0, check.unsupported()


@pytest.mark.parametrize(
    "text",
    [
        "Tuesday came in at 9 h 15 min.",
        "Saturday was your busiest day.",
        "Wednesday was the busiest day.",
        "You attended 14 meetings.",
        "9 entries were tagged postgres.",
        "Orion received 21 hours while Atlas got 16.75 hours.",
        "You kept your weekend free.",
        "Most of the time went to Phoenix (12 h).",
        "Most time went to zephyr-api (12 h).",
    ],
)
def test_unfaithful_sentences_fail(text: str) -> None:
    check = check_claims([text], FACTS, names=entry_names(ENTRIES), entries=ENTRIES)
    assert check.failures >= 1, text


def test_language_is_a_setting() -> None:
    german = ["Du hast diese Woche 42,2 Stunden erfasst, die meiste Zeit ging an das Projekt."]
    english = ["You logged 42.2 h this week, most of it on the atlas project and its API."]
    assert mismatch(german) is not None and mismatch(english) is None
    assert mismatch(german, "de") is None and mismatch(english, "de") is not None
    with pytest.raises(ValueError, match="language"):
        InsightRequest(
            time_zone=ZONE_NAME, insight_type="patterns", entries=week_entries(), language="german"
        )


async def test_the_prompt_asks_for_the_language() -> None:
    answer: dict[str, Any] = {
        "title": "Woche",
        "summary": "Du hast diese Woche {total_hours} erfasst, die meiste Zeit für das Projekt.",
        "key_points": ["Die meiste Zeit ging an die Entwicklung und an das Projekt."],
        "cited_entry_ids": [],
        "self_confidence": 0.5,
    }
    with fo.running() as fake:
        fake.script(fo.answer(answer), fo.answer(answer))
        backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL)
        req = InsightRequest(
            time_zone=ZONE_NAME, insight_type="patterns", entries=week_entries(), language="de"
        )
        in_german = await backend.generate_insight(req)
        in_english = await backend.generate_insight(req.model_copy(update={"language": "en"}))
        await backend.aclose()
        assert "Write in German." in fake.calls()[0].prompt()
    assert in_german.confidence_components["language_match"] == 1.0
    assert in_english.confidence_components["language_match"] == 0.0
    assert any("'de'" in line for line in in_english.unsupported_claims)


def test_names_in_any_script_are_read() -> None:
    start = datetime(2026, 11, 9, 9, tzinfo=UTC)
    rows = [("платформа", 120), ("東京-api", 60), ("zürich", 90)]
    entries = [
        EntryPayload(
            title="Работа",
            type="development",
            project=project,
            start_time=start + timedelta(days=i),
            end_time=start + timedelta(days=i, minutes=spent),
        )
        for i, (project, spent) in enumerate(rows)
    ]
    facts = compute_facts(entries, time_zone=ZONE_NAME)
    right = check_claims(["Платформа took 2.0 h and 東京-api 1.0 h; zürich 1.5 h."], facts)
    assert right.failures == 0 and right.names_mentioned == 3
    assert check_claims(["Платформа took 1.0 h."], facts).failures == 1
