"""Durations as people type them (`45m`, `1h30m`, `1.5h`) and as they read them
(`1h20m`): one parser for the CLI and the web app."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?:in)?)?", re.IGNORECASE)

__all__ = ["format_minutes", "parse_minutes"]


def parse_minutes(text: str) -> float:
    """Minutes in `45m`, `90m`, `1h30m`, `1.5h` or `2h`."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"duration {text!r} is not like 45m, 1h30m or 1.5h")
    hours, minutes = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 60 + minutes
    if total <= 0:
        raise ValueError(f"duration {text!r} must be more than zero")
    return total


def format_minutes(minutes: float) -> str:
    """`1h20m`, `45m`, `3h`."""
    whole = round(minutes)
    hours, mins = divmod(whole, 60)
    if hours and mins:
        return f"{hours}h{mins:02d}m"
    return f"{hours}h" if hours else f"{mins}m"
