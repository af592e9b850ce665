"""The verifier on weeks nobody wrote answers for: random weeks (seeded) with every
activity type, projects or none, tags, overlaps, idle and weekend days, night pages
across midnight, offsets from -05:00 to +09:00, with and without the week before. The
builtin text is the facts, so the verifier must find nothing wrong in it; the corpus's
faithful styles must not be flagged either."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from englog.ai import confidence
from englog.ai.analytics import compute_facts
from englog.ai.answer_schema import checkable, field_findings, finish
from englog.ai.builtin import BuiltinBackend
from englog.ai.claims import entry_names
from englog.ai.schemas import InsightDraft, InsightRequest, InsightType, WeeklyReportRequest
from englog.domain.entries import ActivityType
from tests.unit import ai_corpus as corpus
from tests.unit.ai_week import payloads

WEEK = (date(2026, 11, 9), date(2026, 11, 15))
PROJECTS = ["atlas", "orion", "payments-api", "ledger", None]
TAGS = ["postgres", "api", "incident", "on-call", "review", "kafka", "k8s", "1on1", "q4-plan"]
TITLES = [
    "Daily standup",
    "Fix bug #123 in export",
    "Review PR #88",
    "Design doc v2.1",
    "Sync with team",
    "Deploy release 1.4",
    "Learn Rust ownership",
    "Write tests",
]


def random_week(rng: random.Random, start: date) -> list[dict[str, Any]]:
    zone = timezone(timedelta(hours=rng.choice([-5, 0, 1, 9])))
    out: list[dict[str, Any]] = []
    for day in range(7):
        if rng.random() < 0.25:
            continue
        at = datetime(start.year, start.month, start.day, rng.choice([7, 9]), tzinfo=zone)
        at += timedelta(days=day, minutes=rng.choice([0, 15, 30]))
        for _ in range(rng.randint(1, 7)):
            spent = rng.choice([1, 10, 15, 30, 45, 60, 90, 120, 200])
            out.append(entry(rng, rng.choice([t.value for t in ActivityType]), at, spent))
            at += timedelta(minutes=spent + rng.choice([-15, 0, 5, 30]))
        if rng.random() < 0.15:
            night = at.replace(hour=22, minute=0)
            out.append(entry(rng, "support", night, rng.choice([60, 270]), "On-call page"))
    return out or random_week(rng, start)


def entry(
    rng: random.Random, kind: str, at: datetime, spent: int, title: str | None = None
) -> dict[str, Any]:
    return {
        "title": title or rng.choice(TITLES),
        "type": kind,
        "project": rng.choice(PROJECTS),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "start_time": at.isoformat(),
        "end_time": (at + timedelta(minutes=spent)).isoformat(),
        "value_rating": rng.choice(["low", "medium", "high", "critical"]),
        "impact_level": rng.choice(["personal", "team", "department", "company"]),
    }


@pytest.mark.parametrize("seed", range(12))
async def test_the_verifier_finds_nothing_wrong_in_builtin_text(seed: int) -> None:
    rng = random.Random(seed)
    entries = random_week(rng, WEEK[0])
    previous = random_week(rng, WEEK[0] - timedelta(days=7)) if seed % 2 else None
    backend = BuiltinBackend()
    for kind in InsightType:
        req = InsightRequest(insight_type=kind, entries=entries, previous_entries=previous)
        result = await backend.generate_insight(req)
        assert result.unsupported_claims == [], (seed, kind, result.unsupported_claims)
        assert result.confidence_components["verification"] == 1.0
    report = await backend.generate_weekly_report(
        WeeklyReportRequest(
            week_start=WEEK[0], week_end=WEEK[1], entries=entries, previous_entries=previous
        )
    )
    assert report.unsupported_claims == [], (seed, report.unsupported_claims)


@pytest.mark.parametrize("seed", range(8))
def test_faithful_styles_hold_on_random_weeks(seed: int) -> None:
    """The scripted faithful styles of the corpus, written about random weeks: the
    verifier flags none of their claims (the ones a week cannot support are skipped)."""
    rng = random.Random(seed)
    entries = payloads([e | {"id": f"w-{i:02d}"} for i, e in enumerate(random_week(rng, WEEK[0]))])
    facts = compute_facts(entries)
    checked = 0
    for name, build in corpus.FAITHFUL.items():
        try:
            raw = InsightDraft.model_validate(build(corpus.W(facts), "productivity"))
            draft = finish(raw, facts)
        except (KeyError, IndexError, StopIteration, ValueError):
            continue  # about something this week lacks (a second project, night work)
        texts, references = checkable(raw)
        scored = confidence.assess(
            facts,
            texts,
            draft.cited_entry_ids,
            {e.id for e in entries if e.id},
            draft.self_confidence,
            names=entry_names(entries),
            findings=field_findings(draft, facts),
            entries=entries,
            references=references,
        )
        assert scored.unsupported_claims == [], (seed, name, scored.unsupported_claims)
        checked += 1
    assert checked >= 5
