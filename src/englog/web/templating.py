"""The Jinja2 environment of the web app: templates shipped in the package, autoescape
always on (user content is text, never markup), and the few filters pages share."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from englog.ai.result_text import fact_text, label
from englog.domain.durations import format_minutes

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def when(value: float | datetime | None) -> str:
    """`2026-12-03 14:05:09 UTC`; a dash for never."""
    if value is None:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%H:%M")


def day_label(day: date) -> str:
    return day.strftime("%a %d %b")


def duration(minutes: float) -> str:
    return format_minutes(minutes) if minutes > 0 else "0m"


def period(payload: dict[str, Any]) -> str:
    """The days an insight's entries span (its payload carries entries, not the range)."""
    days = sorted(str(e.get("start_time", ""))[:10] for e in payload.get("entries") or [])
    if not days:
        return "—"
    return days[0] if days[0] == days[-1] else f"{days[0]} → {days[-1]}"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True
    env.filters.update(
        when=when,
        clock=clock,
        day_label=day_label,
        duration=duration,
        fact=fact_text,
        label=label,
        period=period,
    )
    return templates


def page_context(**values: Any) -> dict[str, Any]:
    return values
