"""Issue 21: a confidence that ranks. Scripted answers about a realistic week, sent
through the real Ollama path (official client, the stand-in server), over all five
insight types and the weekly report: every faithful answer, whatever its style, scores
at least MARGIN above every unfaithful one, whatever its error; builtin results score
at least as high as the best faithful LLM answer. Prints the AUC and the margin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from englog.ai import confidence
from englog.ai.analytics import compute_facts
from englog.ai.answer_schema import checkable, field_findings, finish
from englog.ai.builtin import BuiltinBackend
from englog.ai.claims import entry_names
from englog.ai.ollama import OllamaBackend
from englog.ai.sample import load_sample_week
from englog.ai.schemas import (
    AIResult,
    InsightDraft,
    InsightRequest,
    WeeklyReportDraft,
    WeeklyReportRequest,
)
from englog.ai.trends import with_previous
from tests.support import fake_ollama as fo
from tests.support.fake_ollama import FakeOllama
from tests.unit import ai_corpus as corpus
from tests.unit.ai_week import WEEK, ZONE_NAME, payloads, previous_entries, week_entries

MARGIN = 0.10


@dataclass(frozen=True)
class Case:
    kind: str  # insight type or "weekly_report"
    name: str  # style or kind of error
    faithful: bool
    build: Callable[[corpus.W, str], dict[str, Any]]
    with_previous: bool = False


def cases() -> list[Case]:
    out = []
    for kind in corpus.KINDS:
        out += [Case(kind, n, True, b) for n, b in corpus.FAITHFUL.items()]
        out.append(Case(kind, "trend", True, corpus.trend_faithful, with_previous=True))
        out += [Case(kind, n, False, b) for n, b in corpus.UNFAITHFUL.items()]
        out.append(Case(kind, "trend_wrong_direction", False, corpus.trend_wrong_direction, True))
    return out


def request(kind: str, previous: bool) -> InsightRequest | WeeklyReportRequest:
    extra: dict[str, Any] = {"previous_entries": previous_entries()} if previous else {}
    if kind == "weekly_report":
        return WeeklyReportRequest(
            time_zone=ZONE_NAME,
            week_start=WEEK[0],
            week_end=WEEK[1],
            entries=week_entries(),
            **extra,
        )
    return InsightRequest(time_zone=ZONE_NAME, insight_type=kind, entries=week_entries(), **extra)


def facts_for(kind: str, previous: bool) -> corpus.W:
    entries = payloads(week_entries())
    facts = (
        compute_facts(entries, *WEEK, ZONE_NAME)
        if kind == "weekly_report"
        else compute_facts(entries, time_zone=ZONE_NAME)
    )
    if previous:
        facts = with_previous(facts, payloads(previous_entries()))
    return corpus.W(facts)


async def generate(backend: Any, req: InsightRequest | WeeklyReportRequest) -> AIResult:
    if isinstance(req, WeeklyReportRequest):
        return await backend.generate_weekly_report(req)
    return await backend.generate_insight(req)


def auc(good: list[float], bad: list[float]) -> float:
    """Probability that a faithful answer outscores an unfaithful one (ties count half)."""
    pairs = [(g > b) + 0.5 * (g == b) for g in good for b in bad]
    return sum(pairs) / len(pairs)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with fo.running() as server:
        yield server


async def run_corpus(fake: FakeOllama) -> list[tuple[Case, AIResult]]:
    backend = OllamaBackend(fake.url, fo.DEFAULT_MODEL)
    out = []
    try:
        for case in cases():
            fake.script(fo.answer(case.build(facts_for(case.kind, case.with_previous), case.kind)))
            out.append((case, await generate(backend, request(case.kind, case.with_previous))))
    finally:
        await backend.aclose()
    assert fake.pending_faults == 0
    return out


@pytest.fixture(scope="module")
def scored(fake: FakeOllama) -> list[tuple[Case, AIResult]]:
    """Every case once for the module (one loop of its own: the fixture outlives tests)."""
    return asyncio.run(run_corpus(fake))


def test_corpus_is_large_and_varied(scored: list[tuple[Case, AIResult]]) -> None:
    faithful = [c for c, _ in scored if c.faithful]
    errors = {c.name for c, _ in scored if not c.faithful}
    assert len(scored) >= 80 and len(faithful) >= 30 and len(errors) >= 12
    assert {c.kind for c, _ in scored} == set(corpus.KINDS)


def test_every_faithful_answer_outscores_every_unfaithful_one(
    scored: list[tuple[Case, AIResult]],
) -> None:
    good = [(c, r) for c, r in scored if c.faithful]
    bad = [(c, r) for c, r in scored if not c.faithful]
    worst_good = min(good, key=lambda cr: cr[1].confidence)
    best_bad = max(bad, key=lambda cr: cr[1].confidence)
    margin = worst_good[1].confidence - best_bad[1].confidence
    area = auc([r.confidence for _, r in good], [r.confidence for _, r in bad])
    print(
        f"\ncorpus: {len(good)} faithful, {len(bad)} unfaithful; AUC {area:.3f}; smallest "
        f"margin {margin:+.3f} (faithful {worst_good[0].name}/{worst_good[0].kind} "
        f"{worst_good[1].confidence}, unfaithful {best_bad[0].name}/{best_bad[0].kind} "
        f"{best_bad[1].confidence})"
    )
    for case, result in good:
        assert result.unsupported_claims == [], (case.name, case.kind, result.unsupported_claims)
    for case, result in bad:
        assert result.unsupported_claims, (case.name, case.kind)  # the reader is told why
    assert area == 1.0
    assert margin >= MARGIN


async def test_builtin_scores_at_least_as_high_as_faithful_answers(
    scored: list[tuple[Case, AIResult]],
) -> None:
    builtin = BuiltinBackend()
    for kind in corpus.KINDS:
        for previous in (False, True):
            result = await generate(builtin, request(kind, previous))
            assert result.unsupported_claims == [], result.unsupported_claims
            faithful = [r.confidence for c, r in scored if c.faithful and c.kind == kind]
            assert result.confidence >= max(faithful), (kind, result.confidence, max(faithful))


def test_each_error_names_its_claim(scored: list[tuple[Case, AIResult]]) -> None:
    """The unsupported claims say what is wrong, so a reader knows what to distrust."""
    said = {c.name: " ".join(r.unsupported_claims) for c, r in scored if c.kind == "productivity"}
    assert "Saturday was not the busiest day" in said["busiest_zero_day"]
    assert "not the busiest day" in said["busiest_wrong_day"]
    assert "project orion" in said["projects_swapped"]
    assert "'de'" in said["german"]
    assert "meetings is 12" in said["meeting_count_wrong"]
    assert "earlier period" in said["trend_without_previous"]
    assert "no figure" in said["fluff"]
    assert "repeats the prompt" in said["echo"]
    assert '"Zephyr"' in said["invented_project"]
    assert "busiest_day" in said["wrong_field"]
    assert "entries tagged postgres is 5" in said["tag_count_wrong"]
    assert "meeting time changed by" in said["trend_wrong_direction"]


def test_the_ranking_holds_on_another_week() -> None:
    """The same styles and errors about the packaged sample week (other projects, no
    night work), scored directly: the margin does not depend on one week's numbers."""
    entries = payloads([e | {"id": f"w-{i:02d}"} for i, e in enumerate(load_sample_week())])
    facts = compute_facts(entries, time_zone=ZONE_NAME)
    ids = {e.id for e in entries if e.id}
    scores: dict[bool, list[float]] = {True: [], False: []}
    for kind in corpus.KINDS:
        model = WeeklyReportDraft if kind == "weekly_report" else InsightDraft
        for faithful, builders in ((True, corpus.FAITHFUL), (False, corpus.UNFAITHFUL)):
            for build in builders.values():
                try:
                    raw = model.model_validate(build(corpus.W(facts), kind))
                except (KeyError, IndexError, StopIteration):
                    continue  # a style about something this week lacks (night work)
                draft = finish(raw, facts)
                texts, references = checkable(raw)
                scored = confidence.assess(
                    facts,
                    texts,
                    draft.cited_entry_ids,
                    ids,
                    draft.self_confidence,
                    names=entry_names(entries),
                    findings=field_findings(draft, facts),
                    entries=entries,
                    references=references,
                )
                scores[faithful].append(scored.confidence)
    assert len(scores[True]) >= 30 and len(scores[False]) >= 60
    margin = min(scores[True]) - max(scores[False])
    print(f"\nsample week: AUC {auc(scores[True], scores[False]):.3f}, margin {margin:+.3f}")
    assert margin >= MARGIN
