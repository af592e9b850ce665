"""The Jinja2 environment of the web app: templates shipped in the package, autoescape
always on (user content is text, never markup), and the few filters pages share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from englog.ai.result_text import fact_text, label
from englog.domain import localtime
from englog.domain.durations import format_minutes

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

_TICK = timedelta(microseconds=1)
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def when(value: float | datetime | None, tz: tzinfo = UTC) -> str:
    """`2026-12-03 14:05:09 UTC` (or `09:05:09 EST` in the viewer's zone); a dash for
    never."""
    if value is None:
        return "—"
    moment = _aware(value) if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def clock(value: datetime, tz: tzinfo = UTC) -> str:
    return _aware(value).astimezone(tz).strftime("%H:%M")


def local_day(value: datetime, tz: tzinfo = UTC) -> date:
    return _aware(value).astimezone(tz).date()


DASH = "\u2013"  # en dash, between the ends of a span


def span(entry: Any, tz: tzinfo = UTC, *, weekday: bool = False) -> str:
    """`09:00-10:30` (`Mon 09:00-10:30` with `weekday`), or `Fri 22:00 - Sat 02:30` for
    an entry across midnight (with en dashes)."""
    start, end = _aware(entry.start_time).astimezone(tz), _aware(entry.end_time).astimezone(tz)
    if start.date() == end.date():
        return f"{start:%a} " * weekday + f"{start:%H:%M}{DASH}{end:%H:%M}"
    return f"{start:%a %H:%M} {DASH} {end:%a %H:%M}"


def elapsed(minutes: float) -> str:
    """A running timer's time so far: `1h05m`, or `under a minute`."""
    return format_minutes(minutes) if minutes >= 1 else "under a minute"


def day_label(day: date) -> str:
    return day.strftime("%a %d %b")


def duration(minutes: float) -> str:
    return format_minutes(minutes) if minutes > 0 else "0m"


def period(payload: dict[str, Any]) -> str:
    """The local days an insight or report covers: the range asked for when the payload
    carries it (a range's last day may have no entry), else the days its entries span."""
    first = payload.get("period_start") or payload.get("week_start")
    last = payload.get("period_end") or payload.get("week_end")
    if not (first and last):
        days = _entry_days(payload)
        if not days:
            return "—"
        first, last = days[0], days[-1]
    return str(first) if first == last else f"{first} → {last}"


def _entry_days(payload: dict[str, Any]) -> list[str]:
    """The local days (in the payload's zone, UTC for older tasks) its entries touch,
    first to last; the last second of an entry ending at midnight is the day before."""
    try:
        tz = localtime.zone(payload.get("time_zone"))
    except localtime.UnknownZone:
        tz = UTC
    days: list[date] = []
    for e in payload.get("entries") or []:
        try:
            start = _aware(datetime.fromisoformat(str(e["start_time"])))
            end = _aware(datetime.fromisoformat(str(e["end_time"])))
        except (KeyError, TypeError, ValueError):
            continue
        days += [start.astimezone(tz).date(), (end - _TICK).astimezone(tz).date()]
    return [d.isoformat() for d in sorted(days)[:1] + sorted(days)[-1:]]


def fact_cell(value: Any) -> str:
    """One cell of the facts table, every item of it: a page is not a terminal, so
    nothing is abbreviated (a week's seven daily totals, every project and tag)."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {fact_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(
            " ".join(fact_cell(v) for v in item.values()) if isinstance(item, dict) else str(item)
            for item in value
        )
    return fact_text(value)


def make_templates() -> Jinja2Templates:
    """Jinja2 is imported here, on the first page served: an API-only server never
    loads it (1.7 MB of resident memory)."""
    from fastapi.templating import Jinja2Templates

    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True
    env.filters.update(
        when=when,
        clock=clock,
        local_day=local_day,
        span=span,
        day_label=day_label,
        duration=duration,
        elapsed=elapsed,
        fact=fact_cell,
        label=label,
        period=period,
    )
    return templates


def page_context(**values: Any) -> dict[str, Any]:
    return values
