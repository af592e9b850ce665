"""Confidence of LLM answers: computed from checkable claims, bounded, each component
kept; an answer with wrong numbers or invented ids scores lower than a faithful one."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from englog.ai import confidence
from englog.ai.analytics import compute_facts
from englog.ai.builtin import BuiltinBackend
from englog.ai.sample import load_sample_week
from englog.ai.schemas import EntryPayload, InsightRequest

ENTRIES = [
    EntryPayload.model_validate(e | {"id": f"e{i:02d}"}) for i, e in enumerate(load_sample_week())
]
IDS = {e.id for e in ENTRIES if e.id}
FACTS = compute_facts(ENTRIES)


@dataclass
class Tok:
    logprob: float


def faithful() -> list[str]:
    return [
        f"You logged {FACTS.total_minutes / 60:.1f} h in {FACTS.entry_count} entries.",
        f"Focus work was {FACTS.focus_ratio * 100:.0f}% and meetings "
        f"{FACTS.meeting_share * 100:.0f}%.",
    ]


def wrong() -> list[str]:
    return ["You logged 61.5 h in 97 entries.", "Focus work was 71% and meetings 55%."]


def score(texts: list[str], cited: list[str], self_conf: float = 0.8, **kw: object) -> float:
    parts = confidence.components(FACTS, texts, cited, IDS, self_conf, **kw)  # type: ignore[arg-type]
    return confidence.combine(parts)


def test_wrong_numbers_score_lower_than_faithful_ones() -> None:
    good = confidence.components(FACTS, faithful(), ["e01"], IDS, 0.8)
    bad = confidence.components(FACTS, wrong(), ["e01"], IDS, 0.8)
    assert good["numeric_agreement"] == 1.0 and bad["numeric_agreement"] == 0.0
    assert confidence.combine(bad) < confidence.combine(good)


def test_invented_entry_ids_score_lower() -> None:
    good = confidence.components(FACTS, faithful(), ["e01", "e02"], IDS, 0.8)
    bad = confidence.components(FACTS, faithful(), ["e01", "made-up-7"], IDS, 0.8)
    assert bad["citation_validity"] == 0.5
    assert confidence.combine(bad) < confidence.combine(good)


def test_entry_ids_and_clock_times_are_not_numeric_claims() -> None:
    texts = ["Entry e07 at 09:30 on 2026-11-17 was long.", 'Project "v2-api-3" shipped.']
    assert confidence.numeric_claims(texts, FACTS.as_dict(), IDS) == (0, 0)


def test_no_checkable_claims_is_neither_trusted_nor_refuted() -> None:
    parts = confidence.components(FACTS, ["A good week."], [], IDS, 0.5)
    assert parts["grounding"] == confidence.NO_CLAIMS_GROUNDING


def test_self_reported_confidence_weighs_least() -> None:
    assert min(confidence.WEIGHTS, key=confidence.WEIGHTS.__getitem__) == "self_reported"
    high, low = score(faithful(), ["e01"], 1.0), score(faithful(), ["e01"], 0.0)
    grounded, ungrounded = score(faithful(), ["e01"]), score(wrong(), ["e01"])
    assert high - low < grounded - ungrounded


def test_token_logprobs_enter_only_when_present() -> None:
    sure = [Tok(-0.01)] * 10
    unsure = [Tok(-2.0)] * 10
    parts = confidence.components(FACTS, faithful(), ["e01"], IDS, 0.8, logprobs=sure)
    assert parts["token_probability"] == pytest.approx(0.99, abs=0.001)
    assert score(faithful(), ["e01"], logprobs=unsure) < score(faithful(), ["e01"], logprobs=sure)
    assert "token_probability" not in confidence.components(FACTS, faithful(), [], IDS, 0.8)


def test_summarised_entries_lower_coverage() -> None:
    full = confidence.components(FACTS, faithful(), [], IDS, 0.8, detail_share=1.0)
    half = confidence.components(FACTS, faithful(), [], IDS, 0.8, detail_share=0.0)
    assert full["coverage"] == 1.0 and half["coverage"] == 0.5


def test_combine_follows_the_documented_formula_and_is_bounded() -> None:
    parts = confidence.components(FACTS, faithful(), ["e01"], IDS, 0.8, logprobs=[Tok(-0.1)])
    expected = sum(w * parts[n] for n, w in confidence.WEIGHTS.items()) / sum(
        confidence.WEIGHTS.values()
    )
    assert confidence.combine(parts) == round(expected, 3)
    assert confidence.combine(parts | {"schema_validity": 0.0}) == 0.0
    assert 0.0 <= confidence.combine({k: 1.0 for k in parts}) <= 1.0


async def test_degrade_marks_and_lowers() -> None:
    result = await BuiltinBackend().generate_insight(
        InsightRequest(insight_type="productivity", entries=ENTRIES)
    )
    lowered = confidence.degrade(result, "ollama unavailable: down")
    assert lowered.degraded and lowered.degraded_reason == "ollama unavailable: down"
    assert lowered.confidence == round(result.confidence * confidence.DEGRADED_FACTOR, 3)
    assert not result.degraded  # the original is untouched
