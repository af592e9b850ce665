"""Insights and weekly reports for a terminal (rich), as Markdown, or as JSON: the
narrative, the facts it was written from, recommendations, how far to trust it
(confidence and its components), which backend wrote it and whether it is degraded."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from englog.client import Insight, WeeklyReport

AIResult = Insight | WeeklyReport
MAX_ITEMS = 6  # of a fact that is a mapping or a list, in one cell


def _points(result: AIResult) -> tuple[str, list[str]]:
    if isinstance(result, WeeklyReport):
        return "Highlights", result.highlights
    return "Key points", result.key_points


def _label(name: str) -> str:
    return name.replace("_", " ")


def fact_text(value: Any) -> str:
    """One cell: a number, a short mapping (`development 300, meeting 90`) or list."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        items = [f"{k} {fact_text(v)}" for k, v in list(value.items())[:MAX_ITEMS]]
        return ", ".join(items) + (" …" if len(value) > MAX_ITEMS else "")
    if isinstance(value, list):
        shown = [
            " ".join(fact_text(v) for v in item.values()) if isinstance(item, dict) else str(item)
            for item in value[:MAX_ITEMS]
        ]
        return "; ".join(shown) + (" …" if len(value) > MAX_ITEMS else "")
    return str(value)


def trust_line(result: AIResult) -> str:
    parts = [f"confidence {result.confidence:.2f}"]
    if result.confidence_components:
        inner = ", ".join(f"{_label(k)} {v:.2f}" for k, v in result.confidence_components.items())
        parts[0] += f" ({inner})"
    parts.append(f"backend {result.backend}" + (f" ({result.model})" if result.model else ""))
    if result.degraded:
        parts.append(f"DEGRADED: {result.degraded_reason or 'fallback answer'}")
    return " · ".join(parts)


def rich_view(result: AIResult) -> RenderableType:
    heading, points = _points(result)
    parts: list[RenderableType] = [f"[bold]{result.title}[/bold]", "", result.summary]
    for name, items in ((heading, points), ("Recommendations", result.recommendations)):
        if items:
            parts += ["", f"[bold]{name}[/bold]", *(f" • {item}" for item in items)]
    if result.facts:
        facts = Table("fact", "value", title="Facts", title_justify="left", expand=False)
        for name, value in result.facts.items():
            facts.add_row(_label(name), fact_text(value))
        parts += ["", facts]
    style = "yellow" if result.degraded else "green"
    parts += ["", f"[{style}]{trust_line(result)}[/{style}]"]
    return Panel(Group(*parts), expand=False)


def markdown(result: AIResult) -> str:
    heading, points = _points(result)
    lines = [f"# {result.title}", "", result.summary, ""]
    for name, items in ((heading, points), ("Recommendations", result.recommendations)):
        if items:
            lines += [f"## {name}", "", *(f"- {item}" for item in items), ""]
    if result.facts:
        lines += ["## Facts", "", "| fact | value |", "|---|---|"]
        lines += [f"| {_label(k)} | {fact_text(v)} |" for k, v in result.facts.items()]
        lines.append("")
    lines += [f"_{trust_line(result)}_", ""]
    return "\n".join(lines)


def as_json(result: AIResult) -> str:
    return result.model_dump_json(indent=2) + "\n"
