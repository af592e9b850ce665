"""Confidence of every AI result, computed from what can be checked, never asserted.
The one home of the formulas, for the builtin backend and the LLM ones alike; each
component is kept in `confidence_components`, and every claim that contradicts a fact
is listed in `unsupported_claims`.

Numeric claims are checked by `englog.ai.claims`: each number, with its unit and the
words around it, against the fact it claims to be ("435 minutes" of total logged time,
"33 % in meetings"), to its printed precision or within 10 % when hedged ("about 7
hours"). Numbers in recommendations are advice, not claims, and are not checked.

**Builtin**::

    confidence = schema_validity * backend_prior
                 * (0.50 * data_sufficiency + 0.25 * coverage + 0.25 * numeric_agreement)

- coverage: share of the received entries whose minutes are in the facts (entries
  outside a report's week are left out).
- data_sufficiency: 0.5 * (1 - exp(-entries / 8)) + 0.5 * (1 - exp(-active_days / 3)):
  grows with entries and days covered, saturating; one entry scores about 0.2, a
  full week about 0.9. One entry says little about habits, however well described.
- numeric_agreement: share of the numeric claims in the title, summary, key points
  and highlights that agree with their facts; 1.0 with no numbers (a template that
  states none has made no mistake).
- backend_prior: 0.9 for builtin, because a template cannot weigh what the
  descriptions say, only the times and ratings.

**LLM**: an answer that fails validation or was cut off (`done_reason == "length"`)
scores 0 and is asked again (see `englog.ai.llm`); it never becomes a result. A
valid one::

    confidence = schema_validity * backend_prior * (1 - 0.5 * (1 - name_validity))
                 * sum(w_i * c_i) / sum(w_i)

over the components present (token_probability only when the server returned
log-probabilities). name_validity is the share of the projects the answer names that
the entries have (1.0 when it names none): an answer about a project the engineer
never logged invented it, and loses up to half its confidence.

    component          weight  meaning
    numeric_agreement   0.30   share of numeric claims that agree with the fact they
                               name; 0.5 when the answer states no number
    citation_validity   0.15   share of the cited entry ids that exist; 0 with none
                               cited (the prompt asks for them)
    grounding           0.15   all checks together (numbers, project names, cited
                               ids); 0.5 with nothing to check
    data_sufficiency    0.15   as in the builtin backend: one entry says little
    coverage            0.10   entries in scope / entries received, with entries the
                               model only saw summarised counting half
    token_probability   0.10   geometric mean of the answer's token probabilities,
                               exp(mean logprob) (Ollama >= 0.12.11 with `logprobs`)
    self_reported       0.05   the model's own `self_confidence`: the least trusted

backend_prior is 1.0 for an LLM backend (it reads descriptions); a degraded result
(builtin standing in for the LLM) is multiplied by DEGRADED_FACTOR.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from englog.ai.analytics import Facts
from englog.ai.claims import ClaimCheck, check_claims
from englog.ai.schemas import AIResult

WEIGHTS: dict[str, float] = {
    "numeric_agreement": 0.30,
    "citation_validity": 0.15,
    "grounding": 0.15,
    "data_sufficiency": 0.15,
    "coverage": 0.10,
    "token_probability": 0.10,
    "self_reported": 0.05,
}
LLM_PRIOR = 1.0
NO_CLAIMS_GROUNDING = 0.5  # nothing checkable: neither trusted nor refuted
NO_CITATIONS = 0.0
INVENTED_NAME_PENALTY = 0.5  # naming only projects the entries lack halves confidence
SUMMARISED_WEIGHT = 0.5
DEGRADED_FACTOR = 0.8
R = TypeVar("R", bound=AIResult)

BUILTIN_PRIOR = 0.9
BUILTIN_WEIGHTS = {"data_sufficiency": 0.50, "coverage": 0.25, "numeric_agreement": 0.25}
ENTRY_SCALE = 8.0
DAY_SCALE = 3.0


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


def builtin_assessment(facts: Facts, texts: Iterable[str]) -> Assessment:
    """The builtin formula in the module docstring over the texts it wrote."""
    check = check_claims(texts, facts)
    parts = {
        "schema_validity": 1.0,
        "coverage": received_coverage(facts),
        "data_sufficiency": data_sufficiency(facts.entry_count, facts.days_active),
        "numeric_agreement": check.agreement(none=1.0),
        "backend_prior": BUILTIN_PRIOR,
    }
    weighted = sum(weight * parts[name] for name, weight in BUILTIN_WEIGHTS.items())
    value = parts["schema_validity"] * parts["backend_prior"] * weighted
    return Assessment(_clamp(value), parts, check.unsupported())


def grounding(
    check: ClaimCheck, cited_ids: Sequence[str], known_ids: Collection[str]
) -> dict[str, float]:
    """numeric_agreement, citation_validity and grounding (all the checks together)."""
    cited = list(dict.fromkeys(cited_ids))
    ids_ok = sum(1 for i in cited if i in known_ids)
    checked = check.numbers + check.projects_named + len(cited)
    known_projects = check.projects_named - len(check.unknown_projects)
    value = (check.agreeing + known_projects + ids_ok) / checked if checked else NO_CLAIMS_GROUNDING
    return {
        "grounding": round(value, 3),
        "name_validity": check.name_validity(),
        "numeric_agreement": check.agreement(none=NO_CLAIMS_GROUNDING),
        "citation_validity": round(ids_ok / len(cited), 3) if cited else NO_CITATIONS,
    }


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
) -> Assessment:
    """The LLM formula over an answer's claim texts (title, summary, key points or
    highlights); `names` are the titles, projects and tags the model was shown."""
    check = check_claims(texts, facts, [*known_ids, *cited_ids], names)
    parts = {
        "schema_validity": 1.0,
        "backend_prior": LLM_PRIOR,
        **grounding(check, cited_ids, known_ids),
        "data_sufficiency": data_sufficiency(facts.entry_count, facts.days_active),
        "coverage": coverage(facts, detail_share),
        "self_reported": round(min(1.0, max(0.0, self_confidence)), 3),
    }
    if (probability := token_probability(logprobs)) is not None:
        parts["token_probability"] = probability
    return Assessment(combine(parts), parts, check.unsupported())


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


def combine(parts: dict[str, float]) -> float:
    """The LLM formula in the module docstring, clamped to [0, 1]."""
    present = {name: w for name, w in WEIGHTS.items() if name in parts}
    total = sum(present.values())
    mix = sum(w * parts[name] for name, w in present.items()) / total if total else 0.0
    invented = 1.0 - parts.get("name_validity", 1.0)
    factor = parts.get("schema_validity", 0.0) * parts.get("backend_prior", 1.0)
    return _clamp(factor * (1.0 - INVENTED_NAME_PENALTY * invented) * mix)


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
