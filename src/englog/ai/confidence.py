"""Confidence of an LLM answer, computed from what can be checked, never asserted.

An answer that fails validation or was cut off (`done_reason == "length"`) scores 0
and is asked again (see `englog.ai.ollama`); it never becomes a result. A valid one::

    confidence = schema_validity * backend_prior * sum(w_i * c_i) / sum(w_i)

over the components present (token_probability only when the server returned
log-probabilities), each kept in `confidence_components` so the weights can be tuned:

    component          weight  meaning
    grounding           0.40   share of checkable claims that hold: the numbers in the
                               text that match a fact (as minutes, hours or percent) and
                               the cited entry ids that exist; 0.5 with no claim at all
    data_sufficiency    0.20   as in the builtin backend: one entry says little
    coverage            0.15   entries in scope / entries received, with entries the
                               model only saw summarised counting half
    token_probability   0.15   geometric mean of the answer's token probabilities,
                               exp(mean logprob) (Ollama >= 0.12.11 with `logprobs`)
    self_reported       0.10   the model's own `self_confidence`: the least trusted

Informational parts (not weighted): numeric_agreement and citation_validity, the two
halves of grounding. backend_prior is 1.0 for an LLM backend (it reads descriptions);
a degraded result (builtin standing in for the LLM) is multiplied by DEGRADED_FACTOR.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from englog.ai.analytics import Facts
from englog.ai.builtin import coverage as facts_coverage
from englog.ai.builtin import data_sufficiency, fact_values, quoted_numbers
from englog.ai.schemas import AIResult

WEIGHTS: dict[str, float] = {
    "grounding": 0.40,
    "data_sufficiency": 0.20,
    "coverage": 0.15,
    "token_probability": 0.15,
    "self_reported": 0.10,
}
LLM_PRIOR = 1.0
NO_CLAIMS_GROUNDING = 0.5  # nothing checkable: neither trusted nor refuted
SUMMARISED_WEIGHT = 0.5
DEGRADED_FACTOR = 0.8
R = TypeVar("R", bound=AIResult)
_CLOCK_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")


class TokenLogprob(Protocol):
    @property
    def logprob(self) -> float: ...


def _matches(token: str, allowed: set[float]) -> bool:
    tolerance = (0.05 if "." in token else 0.5) + 1e-9
    return any(abs(float(token) - value) <= tolerance for value in allowed)


def _strip_ids(text: str, ids: Iterable[str]) -> str:
    for entry_id in ids:
        if entry_id:
            text = text.replace(entry_id, " ")
    return _CLOCK_TIME.sub(" ", text)


def numeric_claims(
    texts: Iterable[str], facts: dict[str, Any], ids: Collection[str]
) -> tuple[int, int]:
    """(matching, total) numbers in the texts; entry ids, clock times, ISO dates and
    quoted names are not claims."""
    claims = quoted_numbers(_strip_ids(text, ids) for text in texts)
    allowed = fact_values(facts)
    return sum(_matches(c, allowed) for c in claims), len(claims)


def grounding(
    texts: Sequence[str],
    facts: dict[str, Any],
    cited_ids: Sequence[str],
    known_ids: Collection[str],
) -> dict[str, float]:
    """grounding and its two halves; each half is 1.0 when it has nothing to check."""
    cited = list(dict.fromkeys(cited_ids))
    number_ok, numbers = numeric_claims(texts, facts, [*known_ids, *cited])
    ids_ok = sum(1 for i in cited if i in known_ids)
    checked = numbers + len(cited)
    value = (number_ok + ids_ok) / checked if checked else NO_CLAIMS_GROUNDING
    return {
        "grounding": round(value, 3),
        "numeric_agreement": round(number_ok / numbers, 3) if numbers else 1.0,
        "citation_validity": round(ids_ok / len(cited), 3) if cited else 1.0,
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
    return round(facts_coverage(facts) * seen, 3)


def components(
    facts: Facts,
    texts: Sequence[str],
    cited_ids: Sequence[str],
    known_ids: Collection[str],
    self_confidence: float,
    detail_share: float = 1.0,
    logprobs: Sequence[TokenLogprob] | None = None,
) -> dict[str, float]:
    parts = {
        "schema_validity": 1.0,
        "backend_prior": LLM_PRIOR,
        **grounding(texts, facts.as_dict(), cited_ids, known_ids),
        "data_sufficiency": data_sufficiency(facts.entry_count, facts.days_active),
        "coverage": coverage(facts, detail_share),
        "self_reported": round(min(1.0, max(0.0, self_confidence)), 3),
    }
    if (probability := token_probability(logprobs)) is not None:
        parts["token_probability"] = probability
    return parts


def combine(parts: dict[str, float]) -> float:
    """The formula in the module docstring, clamped to [0, 1]."""
    present = {name: w for name, w in WEIGHTS.items() if name in parts}
    total = sum(present.values())
    mix = sum(w * parts[name] for name, w in present.items()) / total if total else 0.0
    value = parts.get("schema_validity", 0.0) * parts.get("backend_prior", 1.0) * mix
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
