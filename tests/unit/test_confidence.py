"""Confidence of LLM answers: computed from checkable claims, bounded, each component
kept; an answer with wrong numbers or invented ids scores lower than a faithful one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from englog.ai import confidence
from englog.ai.analytics import Facts, compute_facts
from englog.ai.builtin import BuiltinBackend
from englog.ai.claims import check_claims
from englog.ai.sample import load_sample_week
from englog.ai.schemas import (
    EntryPayload,
    InsightRequest,
)

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
    assert check_claims(texts, FACTS, IDS).numbers == 0


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
    soft = sum(w * parts[n] for n, w in confidence.WEIGHTS.items()) / sum(
        confidence.WEIGHTS.values()
    )
    writing = confidence.WRITING_FLOOR + (1 - confidence.WRITING_FLOOR) * soft
    expected = parts["evidence"] * parts["verification"] * writing
    assert confidence.combine(parts) == round(expected, 3)
    assert confidence.combine(parts | {"schema_validity": 0.0}) == 0.0
    assert confidence.combine(parts | {"language_match": 0.0}) < confidence.combine(parts)
    assert confidence.combine(parts | {"echo": 1.0}) < confidence.combine(parts)
    assert 0.0 <= confidence.combine({k: 1.0 for k in parts}) <= 1.0


def test_one_wrong_claim_costs_more_than_every_soft_signal() -> None:
    """The soft signals (citations, self-report, log-probabilities) order faithful answers
    among themselves; none can lift a wrong figure above a right one."""
    weakest = confidence.components(FACTS, faithful(), [], IDS, 0.0, logprobs=[Tok(-5.0)])
    one_wrong = [*faithful(), "You logged 61.5 h."]
    strongest = confidence.components(FACTS, one_wrong, ["e01"], IDS, 1.0, logprobs=[Tok(0.0)])
    assert confidence.combine(weakest) - confidence.combine(strongest) >= 0.1


def test_no_checkable_claim_is_not_grounded() -> None:
    """Grounding counts checked claims, not citations: fluff citing real entries is not
    grounded."""
    fluff = confidence.components(FACTS, ["A good, balanced week."], ["e01", "e02"], IDS, 0.9)
    grounded = confidence.components(FACTS, faithful(), [], IDS, 0.5)
    assert fluff["grounding"] == confidence.NO_CLAIMS_GROUNDING == 0.0
    assert fluff["verification"] == confidence.NOT_GROUNDED
    assert confidence.combine(fluff) < confidence.combine(grounded) - 0.2


async def test_degrade_marks_and_lowers() -> None:
    result = await BuiltinBackend().generate_insight(
        InsightRequest(insight_type="productivity", entries=ENTRIES)
    )
    lowered = confidence.degrade(result, "ollama unavailable: down")
    assert lowered.degraded and lowered.degraded_reason == "ollama unavailable: down"
    assert lowered.confidence == round(result.confidence * confidence.DEGRADED_FACTOR, 3)
    assert not result.degraded  # the original is untouched


# --- a claim is checked against the fact it claims to be (issue 15 section 2) -------------


def day_facts() -> Facts:
    """One day: 435 min in all, 145 of meetings and 290 of focus (the issue's week)."""
    start = datetime(2026, 11, 16, 8, tzinfo=UTC)
    rows = [("development", 290), ("meeting", 145)]
    entries, at = [], start
    for i, (kind, minutes) in enumerate(rows):
        end = at + timedelta(minutes=minutes)
        entries.append(
            EntryPayload(
                id=f"d{i}", title=kind, type=kind, project="api", start_time=at, end_time=end
            )
        )
        at = end
    return compute_facts(entries)


def test_a_number_is_checked_against_the_fact_its_words_name() -> None:
    facts = day_facts()
    wrong = check_claims(["Observed totals 60, 100, 0."], facts)
    assert (wrong.agreeing, wrong.numbers) == (0, 3)  # 60 is a number of minutes, not the total
    assert all("total logged time" in line for line in wrong.unsupported())
    right = check_claims(
        ["435 minutes in all, or 7.25 h.", "33 % in meetings, 67% focus.", "145 min of meetings."],
        facts,
    )
    assert (right.agreeing, right.numbers) == (5, 5), right.unsupported()
    swapped = check_claims(["290 min of meetings and 145 min of focus work."], facts)
    assert swapped.agreeing == 0 and len(swapped.unsupported()) == 2
    assert check_claims(["About 7 hours logged."], facts).agreement(none=0) == 1.0
    assert check_claims(["6 hours logged."], facts).agreement(none=0) == 0.0


def test_projects_the_entries_lack_are_unsupported() -> None:
    check = check_claims(
        ['The "Zephyr" project took 2 h.', "The API project took 7.25 h."], day_facts()
    )
    assert check.unknown_projects == ["Zephyr"] and check.projects_named == 2
    assert check.name_validity() < 1.0
    assert 'project "Zephyr" is not in the entries' in check.unsupported()


# Scripted answers through the Ollama backend: tests/unit/test_confidence_corpus.py.


def test_thousands_separators_and_where_the_words_are() -> None:
    """Thousands separators: "1,435 minutes" is one number. Words after a number name
    it from its unit on ("145 min of meetings"); "and" or a comma keeps a neighbour's
    words apart."""
    facts = day_facts()
    assert check_claims(["You logged 1,435 minutes."], facts).agreeing == 0
    assert check_claims(["You logged 1,435 minutes."], facts).numbers == 1
    parallel = check_claims(["290 min of development and 145 min of meetings."], facts)
    assert parallel.agreeing == 2 and parallel.unsupported() == []
    [line] = check_claims(['Meetings on "api" took 200 min.'], facts).unsupported()
    assert line.startswith('"Meetings on "api" took 200 min."') and "meeting time is 145" in line


def test_an_answer_repeating_the_prompt_is_an_echo() -> None:
    instructions = "Use only the FACTS and ENTRIES given. Never invent activities, projects."
    facts_json = 'FACTS (computed, exact): {"entry_count": 43}'
    natural = ["60% of the time had team-wide or broader impact, most of it on refunds."]
    assert confidence.echo([instructions]) == 1.0 and confidence.echo([facts_json]) == 1.0
    assert confidence.echo(natural) == 0.0
    echoed = confidence.components(FACTS, [instructions, *faithful()], [], IDS, 0.9)
    plain = confidence.components(FACTS, faithful(), [], IDS, 0.9)
    assert confidence.combine(echoed) < confidence.combine(plain) - 0.3
