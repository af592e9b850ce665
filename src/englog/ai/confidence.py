"""Confidence of every AI result, computed from what can be checked, never asserted.
The one home of the formulas, for the builtin backend and the LLM ones alike; each
component is kept in `confidence_components`, and every claim that contradicts a fact
is listed in `unsupported_claims`.

Claims are read by `englog.ai.claims`: figures with their units, days, comparisons with
the previous period, project names (see there). Numbers in recommendations are advice,
not claims, and are not checked.

Both backends::

    confidence = schema_validity * backend_prior * evidence * verification * writing
                 * language_match * (1 - echo)

- evidence = 0.5 + 0.5 * data_sufficiency * coverage: how much the entries can say.
  data_sufficiency = 0.5 * (1 - exp(-entries / 8)) + 0.5 * (1 - exp(-active_days / 3))
  (one entry about 0.2, a full week about 0.9); coverage = entries in scope / received.
- verification = (claims that hold / claims checked) * ERROR_FACTOR ** claims that fail,
  or NOT_GROUNDED when the text states no checkable figure, day or comparison (names
  alone do not ground a narrative, and neither do citations). One wrong figure costs
  30 %, two about half: a reader acts on every figure.
- writing: 1.0 for builtin (its text is the facts); for an LLM 0.7 + 0.3 * the weighted
  mean of the soft signals below, so they order faithful answers among themselves but
  never lift a wrong one above a right one.
- language_match: LANGUAGE_FACTOR when the answer is not in the requested language.
- echo: ECHO_PENALTY when the answer repeats the prompt (the FACTS JSON, entry lines).

    soft signal         weight  meaning
    citation_validity    0.30   share of the cited entry ids that exist; 0 with none
    token_probability    0.25   exp(mean logprob) of the answer's tokens, when returned
    coverage             0.30   entries shown in full count 1, summarised ones 0.5
    self_reported        0.15   the model's own `self_confidence`: the least trusted

backend_prior is 1.0 for both: the builtin text is correct by construction and an LLM's
is checked claim by claim, so a faithful LLM answer can match the builtin one but not
pass it. A degraded result (builtin standing in for the LLM) is multiplied by
DEGRADED_FACTOR. An LLM answer that fails validation, names an unknown reference or was
cut off scores 0 and is asked again (`englog.ai.llm`); it never becomes a result.

What it cannot know: whether a statement about an entry's content is true (the text
"the refund bug is fixed" has no fact behind it), whether advice is good, and claims in
words it does not read (fractions like "a third", figures spelled in other languages).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from englog.ai.analytics import EntryLike, Facts
from englog.ai.claims import ClaimCheck, Finding, check_claims
from englog.ai.language import DEFAULT_LANGUAGE, mismatch
from englog.ai.schemas import AIResult

WEIGHTS: dict[str, float] = {
    "citation_validity": 0.30,
    "token_probability": 0.25,
    "coverage": 0.30,
    "self_reported": 0.15,
}
LLM_PRIOR = 1.0
BUILTIN_PRIOR = 1.0
NOT_GROUNDED = 0.45  # no checkable claim: not grounded, whatever it cites
NO_CLAIMS_GROUNDING = 0.0  # grounding counts checked claims, not citations
NO_CITATIONS = 0.0
ERROR_FACTOR = 0.7  # each claim that contradicts the facts
LANGUAGE_FACTOR = 0.5
ECHO_PENALTY = 0.6
WRITING_FLOOR = 0.7
SUMMARISED_WEIGHT = 0.5
DEGRADED_FACTOR = 0.8
R = TypeVar("R", bound=AIResult)

ENTRY_SCALE = 8.0
DAY_SCALE = 3.0
_ECHO_MARKERS = (
    "facts (computed",
    "entries in full",
    "summary of all entries",
    "you are englog",
    "answer with one json",
    "cited_entry_ids",
    "self_confidence",
    '{"',
    "insight type:",
    "| value=",
    "id=",
)


class TokenLogprob(Protocol):
    @property
    def logprob(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Assessment:
    """A result's confidence, its components and the claims that contradict a fact."""

    confidence: float
    components: dict[str, float]
    unsupported_claims: list[str] = field(default_factory=list)


def data_sufficiency(entry_count: int, days_active: int) -> float:
    by_entries = 1.0 - math.exp(-entry_count / ENTRY_SCALE)
    by_days = 1.0 - math.exp(-days_active / DAY_SCALE)
    return round(0.5 * by_entries + 0.5 * by_days, 3)


def received_coverage(facts: Facts) -> float:
    """Share of the received entries that are in scope (inside the requested dates)."""
    received = facts.entry_count + facts.excluded_entries
    return round(facts.entry_count / received, 3) if received else 0.0


def numeric_agreement(texts: Iterable[str], facts: Facts) -> float:
    """Share of the numeric claims in `texts` that agree with their facts (1.0: none)."""
    return check_claims(texts, facts).agreement(none=1.0)


def evidence(facts: Facts) -> float:
    return round(
        0.5
        + 0.5 * data_sufficiency(facts.entry_count, facts.days_active) * received_coverage(facts),
        3,
    )


def verification(check: ClaimCheck) -> float:
    """Share of checked claims that hold, times ERROR_FACTOR per failure; NOT_GROUNDED
    with no figure, day or comparison to check."""
    if not check.substantive:
        return round(NOT_GROUNDED * ERROR_FACTOR**check.failures, 3)
    held = (check.checked - check.failures) / check.checked
    return round(held * ERROR_FACTOR**check.failures, 3)


ECHO_SHINGLE = 10  # this many words in a row from the instructions is an echo


def _shingles(text: str) -> set[tuple[str, ...]]:
    found = [w for w in re.findall(r"[^\W\d_]+", text.lower())]
    return {tuple(found[i : i + ECHO_SHINGLE]) for i in range(len(found) - ECHO_SHINGLE + 1)}


@functools.cache
def _instruction_shingles() -> frozenset[tuple[str, ...]]:
    from englog.ai.prompts import FOCUS, REPORT_FOCUS, SYSTEM
    from englog.ai.references import guide

    texts = [SYSTEM, REPORT_FOCUS, guide(), *FOCUS.values()]
    return frozenset(s for t in texts for s in _shingles(t))


def echo(texts: Iterable[str]) -> float:
    """1.0 when the answer repeats the prompt: its machinery (JSON facts, entry lines)
    or ECHO_SHINGLE words in a row of its instructions."""
    joined = " ".join(texts)
    if any(marker in joined.lower() for marker in _ECHO_MARKERS):
        return 1.0
    return 1.0 if _shingles(joined) & _instruction_shingles() else 0.0


def _checked(check: ClaimCheck, texts: Sequence[str], language: str) -> dict[str, float]:
    """The components every backend shares, from what its texts claim."""
    wrong_language = mismatch(list(texts), language)
    return {
        "grounding": round((check.checked - check.failures) / check.checked, 3)
        if check.checked
        else NO_CLAIMS_GROUNDING,
        "numeric_agreement": check.agreement(none=1.0),
        "name_validity": check.name_validity(),
        "verification": verification(check),
        "checked_claims": float(check.checked),
        "substantive_claims": float(check.substantive),
        "language_match": 0.0 if wrong_language else 1.0,
        "echo": echo(texts),
    }


def _product(parts: dict[str, float], writing: float) -> float:
    language = 1.0 if parts.get("language_match", 1.0) else LANGUAGE_FACTOR
    return _clamp(
        parts.get("schema_validity", 0.0)
        * parts.get("backend_prior", 1.0)
        * parts.get("evidence", 1.0)
        * parts.get("verification", 1.0)
        * writing
        * language
        * (1.0 - ECHO_PENALTY * parts.get("echo", 0.0))
    )


def builtin_assessment(
    facts: Facts, texts: Iterable[str], entries: Sequence[EntryLike] = ()
) -> Assessment:
    """The formula in the module docstring over the texts the builtin backend wrote."""
    texts = list(texts)
    check = check_claims(texts, facts, entries=entries)
    parts = {
        "schema_validity": 1.0,
        "coverage": received_coverage(facts),
        "data_sufficiency": data_sufficiency(facts.entry_count, facts.days_active),
        "evidence": evidence(facts),
        "backend_prior": BUILTIN_PRIOR,
        **_checked(check, texts, DEFAULT_LANGUAGE),
    }
    return Assessment(_product(parts, 1.0), parts, check.unsupported())


def grounding(
    check: ClaimCheck, cited_ids: Sequence[str], known_ids: Collection[str]
) -> dict[str, float]:
    """citation_validity: the share of cited ids that exist (0 with none cited)."""
    cited = list(dict.fromkeys(cited_ids))
    ids_ok = sum(1 for i in cited if i in known_ids)
    return {"citation_validity": round(ids_ok / len(cited), 3) if cited else NO_CITATIONS}


def token_probability(logprobs: Sequence[TokenLogprob] | None) -> float | None:
    """exp(mean logprob) of the answer's tokens, None when the server sent none."""
    if not logprobs:
        return None
    mean = sum(t.logprob for t in logprobs) / len(logprobs)
    return round(math.exp(min(0.0, mean)), 3)


def coverage(facts: Facts, detail_share: float) -> float:
    """In-scope share of the received entries, summarised entries counting half."""
    seen = detail_share + SUMMARISED_WEIGHT * (1.0 - detail_share)
    return round(received_coverage(facts) * seen, 3)


def assess(
    facts: Facts,
    texts: Sequence[str],
    cited_ids: Sequence[str],
    known_ids: Collection[str],
    self_confidence: float,
    detail_share: float = 1.0,
    logprobs: Sequence[TokenLogprob] | None = None,
    names: Iterable[str] = (),
    language: str = DEFAULT_LANGUAGE,
    findings: Sequence[Finding] = (),
    entries: Sequence[EntryLike] = (),
    references: int = 0,
) -> Assessment:
    """The LLM formula over an answer's claim texts (title, summary, key points or
    highlights); `names` are the titles, projects and tags the model was shown;
    `findings` are checks of the answer's structured fields (busiest_day ...)."""
    check = check_claims(texts, facts, [*known_ids, *cited_ids], names, entries)
    check.findings += list(findings)
    check.references = references
    parts = {
        "schema_validity": 1.0,
        "backend_prior": LLM_PRIOR,
        **grounding(check, cited_ids, known_ids),
        "data_sufficiency": data_sufficiency(facts.entry_count, facts.days_active),
        "evidence": evidence(facts),
        "coverage": coverage(facts, detail_share),
        "self_reported": round(min(1.0, max(0.0, self_confidence)), 3),
        **_checked(check, texts, language),
    }
    if (probability := token_probability(logprobs)) is not None:
        parts["token_probability"] = probability
    return Assessment(combine(parts), parts, check.unsupported() + _flags(parts, texts, language))


def _flags(parts: dict[str, float], texts: Sequence[str], language: str) -> list[str]:
    flags = []
    if not parts["language_match"]:
        flags.append(mismatch(list(texts), language) or "the answer is in another language")
    if parts["echo"]:
        flags.append("the answer repeats the prompt (facts JSON or entry lines)")
    if parts["substantive_claims"] == 0:
        flags.append("the answer states no figure, day or comparison that can be checked")
    return flags


def components(
    facts: Facts,
    texts: Sequence[str],
    cited_ids: Sequence[str],
    known_ids: Collection[str],
    self_confidence: float,
    **options: Any,
) -> dict[str, float]:
    """The components of `assess` (same arguments), for tuning and tests."""
    return assess(facts, texts, cited_ids, known_ids, self_confidence, **options).components


def writing(parts: dict[str, float]) -> float:
    """WRITING_FLOOR + the rest by the weighted soft signals present."""
    present = {name: w for name, w in WEIGHTS.items() if name in parts}
    total = sum(present.values())
    mix = sum(w * parts[name] for name, w in present.items()) / total if total else 0.0
    return WRITING_FLOOR + (1.0 - WRITING_FLOOR) * mix


def combine(parts: dict[str, float]) -> float:
    """The LLM formula in the module docstring, clamped to [0, 1]."""
    return _product(parts, writing(parts))


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 3)


def degrade(result: R, reason: str) -> R:
    """Mark a stand-in result: degraded, the reason, confidence times DEGRADED_FACTOR."""
    parts = {**result.confidence_components, "degraded_factor": DEGRADED_FACTOR}
    return result.model_copy(
        update={
            "degraded": True,
            "degraded_reason": reason,
            "confidence": round(result.confidence * DEGRADED_FACTOR, 3),
            "confidence_components": parts,
        }
    )
