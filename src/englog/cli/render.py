"""Insights and weekly reports for a terminal (rich), as Markdown, or as JSON: the
narrative, the facts it was written from, recommendations, how far to trust it
(confidence and its components), which backend wrote it and whether it is degraded.
The plain-text parts are `englog.ai.result_text`'s, shared with the web app."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from englog.ai.result_text import MAX_ITEMS, AIResult, fact_text, label, points, trust_line
from englog.ai.result_text import markdown as markdown  # re-exported for the CLI

__all__ = ["as_json", "fact_text", "markdown", "rich_view", "trust_line"]


def rich_view(result: AIResult) -> RenderableType:
    heading, items_ = points(result)
    parts: list[RenderableType] = [f"[bold]{result.title}[/bold]", "", result.summary]
    for name, items in ((heading, items_), ("Recommendations", result.recommendations)):
        if items:
            parts += ["", f"[bold]{name}[/bold]", *(f" • {item}" for item in items)]
    if result.facts:
        facts = Table("fact", "value", title="Facts", title_justify="left", expand=False)
        for name, value in result.facts.items():
            facts.add_row(label(name), fact_text(value, MAX_ITEMS))
        parts += ["", facts]
    style = "yellow" if result.degraded else "green"
    parts += ["", f"[{style}]{trust_line(result)}[/{style}]"]
    return Panel(Group(*parts), expand=False)


def as_json(result: AIResult) -> str:
    return result.model_dump_json(indent=2) + "\n"
