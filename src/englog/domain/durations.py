"""Durations as people type them (`45m`, `45 min`, `90m`, `1h30`, `1h30m`, `1:30`,
`1.5h`) and as they read them (`1h20m`): one parser for the CLI and the web app."""

from __future__ import annotations

import re

__all__ = ["format_minutes", "parse_minutes"]

_CLOCK_STYLE = re.compile(r"(\d+):(\d{1,2})")
_UNITS = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)\s*h(?:ours?|rs?)?)?"
    r"\s*(?:(?P<m>\d+(?:\.\d+)?)\s*(?P<mu>m|mins?|minutes?)?)?",
    re.IGNORECASE,
)
_FORMS = "45m, 45 min, 1h30, 1h30m, 1:30 or 1.5h"


def parse_minutes(text: str) -> float:
    """Minutes in a typed duration; ValueError with a one-line reason otherwise."""
    value = text.strip()
    hours, minutes = _parts(value)
    if hours and minutes >= 60:
        raise ValueError(
            f"duration {text!r}: minutes after hours must be under 60 "
            f"(did you mean {format_minutes(hours * 60 + minutes)}?)"
        )
    total = hours * 60 + minutes
    if total <= 0:
        raise ValueError(f"duration {text!r} must be more than zero")
    return total


def _parts(value: str) -> tuple[float, float]:
    clock = _CLOCK_STYLE.fullmatch(value)
    if clock is not None:
        return float(clock.group(1)), float(clock.group(2))
    match = _UNITS.fullmatch(value)
    if not value or match is None or not (match["h"] or match["m"]):
        raise ValueError(f"duration {value!r} is not like {_FORMS}")
    if match["m"] and not match["mu"] and not match["h"]:
        raise ValueError(f"duration {value!r} needs a unit: {value}m or {value}h")
    if match["h"] and match["m"] and not match["mu"] and "." in match["m"]:
        raise ValueError(f"duration {value!r} is not like {_FORMS}")
    return float(match["h"] or 0), float(match["m"] or 0)


def format_minutes(minutes: float) -> str:
    """`1h20m`, `45m`, `3h`."""
    whole = round(minutes)
    hours, mins = divmod(whole, 60)
    if hours and mins:
        return f"{hours}h{mins:02d}m"
    return f"{hours}h" if hours else f"{mins}m"
