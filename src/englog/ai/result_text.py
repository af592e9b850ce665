"""An insight or weekly report as plain text: its points, fact cells, the trust line and
Markdown. One home for the CLI (`englog report --format md`) and the web app's download,
so both say the same thing about a result."""

from __future__ import annotations

from typing import Any

from englog.ai.schemas import Insight, WeeklyReport

__all__ = ["AIResult", "fact_text", "label", "markdown", "points", "trust_line"]

AIResult = Insight | WeeklyReport
MAX_ITEMS = 6  # of a fact that is a mapping or a list, in one terminal cell


def points(result: AIResult) -> tuple[str, list[str]]:
    """The heading and items of what the result stresses: highlights or key points."""
    if isinstance(result, WeeklyReport):
        return "Highlights", result.highlights
    return "Key points", result.key_points


def label(name: str) -> str:
    return name.replace("_", " ")


def fact_text(value: Any, limit: int | None = None) -> str:
    """One cell: a number, a mapping (`development 300, meeting 90`) or a list. Whole
    unless `limit` is given (a terminal view), and then it says how many items it hid:
    an export or a page never drops a day, a type or a tag."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        items = [f"{k} {fact_text(v)}" for k, v in value.items()]
        return _joined(items, ", ", limit)
    if isinstance(value, list):
        shown = [
            " ".join(fact_text(v) for v in item.values()) if isinstance(item, dict) else str(item)
            for item in value
        ]
        return _joined(shown, "; ", limit)
    return str(value)


def _joined(items: list[str], sep: str, limit: int | None) -> str:
    if limit is None or len(items) <= limit:
        return sep.join(items)
    hidden = len(items) - limit
    return sep.join(items[:limit]) + f" (and {hidden} more, hidden here)"


def trust_line(result: AIResult) -> str:
    parts = [f"confidence {result.confidence:.2f}"]
    if result.confidence_components:
        inner = ", ".join(f"{label(k)} {v:.2f}" for k, v in result.confidence_components.items())
        parts[0] += f" ({inner})"
    parts.append(f"backend {result.backend}" + (f" ({result.model})" if result.model else ""))
    if result.degraded:
        parts.append(f"DEGRADED: {result.degraded_reason or 'fallback answer'}")
    return " · ".join(parts)


def markdown(result: AIResult) -> str:
    heading, items_ = points(result)
    lines = [f"# {result.title}", "", result.summary, ""]
    for name, items in ((heading, items_), ("Recommendations", result.recommendations)):
        if items:
            lines += [f"## {name}", "", *(f"- {item}" for item in items), ""]
    if result.facts:
        lines += ["## Facts", "", "| fact | value |", "|---|---|"]
        lines += [f"| {label(k)} | {fact_text(v)} |" for k, v in result.facts.items()]
        lines.append("")
    lines += [f"_{trust_line(result)}_", ""]
    return "\n".join(lines)
