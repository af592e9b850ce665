"""What the operator's task page says about one task beyond its status: the payload (for
AI tasks a summary, never the engineer's entries themselves), the result, and how long
it waited in the queue and ran."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from englog.domain.tasks import Task, TaskAttempt

MAX_SHOWN_CHARS = 4000  # a payload or result shown in full up to this; cut beyond


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds; None when that stage has not happened yet."""

    waited_s: float | None
    ran_s: float | None
    still_waiting: bool


def timing(task: Task, attempts: list[TaskAttempt], now: float) -> Timing:
    """Waited: submission to its first delivery (or until now, while pending). Ran: the
    attempts' time on workers, a running one counted until now."""
    starts = [a.started_at for a in attempts if a.started_at]
    if starts:
        waited: float | None = max(0.0, min(starts) - task.created_at)
    elif task.started_at:
        waited = max(0.0, task.started_at - task.created_at)
    elif not task.status.terminal:
        waited = max(0.0, now - task.created_at)
    else:
        waited = None  # cancelled before any worker took it
    ran = 0.0
    for a in attempts:
        if a.started_at:
            ran += max(0.0, (a.ended_at or now) - a.started_at)
    return Timing(waited, ran if starts else None, not starts and not task.status.terminal)


def seconds(value: float | None) -> str:
    """4 ms, 0.42 s, 12 s, 3 min 5 s, 2 h 10 min: what a person reads at a glance."""
    if value is None:
        return "-"
    if value < 0.1:
        return f"{value * 1000:.0f} ms" if value >= 0.001 else f"{value * 1000:.1f} ms"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.0f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _entries_summary(entries: list[Any]) -> str:
    starts, minutes, projects = [], 0.0, set()
    for e in entries:
        if not isinstance(e, dict):
            continue
        try:
            start = datetime.fromisoformat(str(e["start_time"]))
            end = datetime.fromisoformat(str(e["end_time"]))
        except (KeyError, ValueError):
            continue
        starts.append(start)
        minutes += (end - start).total_seconds() / 60
        if e.get("project"):
            projects.add(str(e["project"]))
    count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
    if not starts:
        return count
    span = f"{min(starts):%Y-%m-%d} to {max(starts):%Y-%m-%d}"
    return f"{count} from {span}, {minutes / 60:.1f} h in all, {len(projects)} project(s)"


def payload_summary(task: Task) -> list[tuple[str, str]]:
    """(field, value) lines: an `entries` list becomes a count, span and total (an
    operator needs its size, not what the engineer wrote); other fields as JSON."""
    lines = []
    for key, value in task.payload.items():
        if key in ("entries", "previous_entries") and isinstance(value, list):
            lines.append((key, _entries_summary(value)))
        else:
            lines.append((key, shown(value)))
    return lines


def shown(value: Any) -> str:
    """JSON, indented, cut at MAX_SHOWN_CHARS with the size said."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return text[:MAX_SHOWN_CHARS] + f"\n… ({len(text) - MAX_SHOWN_CHARS} more characters)"


def result_view(task: Task) -> str | None:
    """The result as JSON; for AI results its facts section is left out (it repeats the
    entries' totals) and a link to the result page says where the full view is."""
    if task.result is None:
        return None
    result = task.result
    if isinstance(result, dict) and "facts" in result:
        result = {k: v for k, v in result.items() if k != "facts"}
    return shown(result)
