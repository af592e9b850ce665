"""The JSON schema an LLM answers in, built per request: every field that names a
project, activity type, tag or day is an enumeration of the real ones, so a model
decoding under the schema (Ollama `format`, OpenAI `response_format` with `strict`)
cannot name one that does not exist. The schema is strict-mode valid: every property
is required (optional ones are nullable) and no other is allowed.

`finish` turns a parsed draft into the one that is scored: references filled in
(`englog.ai.references`) and structured fields checked against the enumerations (a
model that ignores the schema is told and asked again); `field_findings` checks what
the structured fields claim (is the named busiest day the busiest?)."""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from englog.ai.analytics import NO_PROJECT, Facts
from englog.ai.claims import Finding
from englog.ai.fact_index import TYPES
from englog.ai.references import REFERENCE, render
from englog.ai.schemas import Draft

D = TypeVar("D", bound=Draft)
TEXT_FIELDS = ("title", "summary")
LIST_FIELDS = ("recommendations", "key_points", "highlights")


def day_names(f: Facts) -> list[str]:
    return list(dict.fromkeys(f"{date.fromisoformat(d):%A}" for d in f.daily_totals))


def projects(f: Facts) -> list[str]:
    return [p for p in f.minutes_by_project if p != NO_PROJECT]


def enumerations(f: Facts) -> dict[str, list[str]]:
    return {
        "busiest_day": day_names(f),
        "top_project": projects(f),
        "top_activity": list(TYPES),
        "focus_areas": sorted({*f.tag_minutes, *projects(f), *f.minutes_by_type}),
    }


def _nullable_enum(values: list[str]) -> dict[str, Any]:
    if not values:
        return {"type": "null"}
    return {"type": ["string", "null"], "enum": [*values, None]}


def answer_schema(model: type[Draft], f: Facts) -> dict[str, Any]:
    """The draft's JSON schema with the real names as enumerations (strict-mode valid)."""
    text = {"type": "string"}
    texts = {"type": "array", "items": text}
    names = enumerations(f)
    properties: dict[str, Any] = {"title": text, "summary": text}
    for name in LIST_FIELDS:
        if name in model.model_fields:
            properties[name] = texts
    properties |= {
        "cited_entry_ids": texts,
        "self_confidence": {"type": "number"},  # 0..1, checked on parsing (strict mode
        # of OpenAI-compatible servers rejects minimum and maximum)
        "busiest_day": _nullable_enum(names["busiest_day"]),
        "top_project": _nullable_enum(names["top_project"]),
        "top_activity": _nullable_enum(names["top_activity"]),
        "focus_areas": {"type": "array", "items": {"type": "string", "enum": names["focus_areas"]}}
        if names["focus_areas"]
        else {"type": "array", "items": {"type": "string"}},
    }
    return {
        "title": model.__name__,
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def finish(draft: D, f: Facts) -> D:
    """References filled in and structured names checked; ValueError when one is
    unknown (the answer is invalid and asked again)."""
    names = enumerations(f)
    problems = []
    for name in ("busiest_day", "top_project", "top_activity"):
        value = getattr(draft, name)
        if value is not None and value not in names[name]:
            problems.append(f"{name} {value!r} is not one of {names[name]}")
    bad_areas = [a for a in draft.focus_areas if a not in names["focus_areas"]]
    if bad_areas:
        problems.append(f"focus_areas {bad_areas} are not tags, projects or activities of FACTS")
    if problems:
        raise ValueError("; ".join(problems))
    update: dict[str, Any] = {n: render(getattr(draft, n), f) for n in TEXT_FIELDS}
    for name in LIST_FIELDS:
        if name in type(draft).model_fields:
            update[name] = [render(item, f) for item in getattr(draft, name)]
    return draft.model_copy(update=update)


def field_findings(draft: Draft, f: Facts) -> list[Finding]:
    """What the structured fields claim, checked against the facts."""
    found = []
    if draft.busiest_day is not None and f.daily_totals:
        top = max(f.daily_totals.values())
        busiest = {f"{date.fromisoformat(d):%A}" for d, m in f.daily_totals.items() if m == top}
        why = f"busiest_day {draft.busiest_day} is not the busiest day"
        found.append(Finding("field", "busiest_day", draft.busiest_day in busiest, why))
    if draft.top_project is not None:
        named = projects(f)
        holds = (
            bool(named)
            and f.minutes_by_project[draft.top_project] == f.minutes_by_project[named[0]]
        )
        why = f"top_project {draft.top_project} is not the project with the most time"
        found.append(Finding("field", "top_project", holds, why))
    if draft.top_activity is not None:
        first = next(iter(f.minutes_by_type.values()), 0.0)
        holds = f.minutes_by_type.get(draft.top_activity, -1.0) == first
        why = f"top_activity {draft.top_activity} is not the activity with the most time"
        found.append(Finding("field", "top_activity", holds, why))
    return found


def checkable(draft: Draft) -> tuple[list[str], int]:
    """The texts whose literal claims are checked (title, summary, key points or
    highlights) with each reference masked, and how many references they hold: a
    filled-in reference is right by construction."""
    texts = [draft.title, draft.summary]
    for name in ("key_points", "highlights"):
        if name in type(draft).model_fields:
            texts += getattr(draft, name)
    count = sum(len(REFERENCE.findall(t)) for t in texts)
    return [REFERENCE.sub(' "" ', t) for t in texts], count
