"""What the importers share: a draft entry, the time the user's entries already cover,
and the markers that say which commits and events were imported before."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Pieces of a session shorter than this, once logged time is taken out, are dropped.
MIN_PIECE = timedelta(minutes=5)
TITLE_MAX = 200
DESCRIPTION_MAX = 5000


@dataclass(frozen=True, slots=True)
class Draft:
    title: str
    type: str
    start: datetime
    end: datetime
    project: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60

    def body(self) -> dict[str, Any]:
        """As `Client.log_many` takes it."""
        return {
            "title": self.title,
            "type": self.type,
            "project": self.project,
            "description": self.description,
            "tags": self.tags,
            "start_time": self.start.isoformat(),
            "end_time": self.end.isoformat(),
        }


def uncovered(
    start: datetime, end: datetime, covered: Iterable[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) no span of `covered` touches, each at least MIN_PIECE."""
    pieces = [(start, end)]
    for low, high in sorted(covered):
        cut: list[tuple[datetime, datetime]] = []
        for a, b in pieces:
            if high <= a or low >= b:
                cut.append((a, b))
                continue
            if low > a:
                cut.append((a, low))
            if high < b:
                cut.append((high, b))
        pieces = cut
    return [(a, b) for a, b in pieces if b - a >= MIN_PIECE]


def short_title(parts: Iterable[str]) -> str:
    """Distinct parts joined with "; ", cut to an entry title's length."""
    title = "; ".join(dict.fromkeys(p.strip() for p in parts if p.strip())) or "(untitled)"
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 3].rstrip() + "..."


def markers(descriptions: Iterable[str | None], pattern: re.Pattern[str]) -> set[str]:
    """Every marker `pattern` (one group) finds in the descriptions."""
    found: set[str] = set()
    for text in descriptions:
        if text:
            found.update(pattern.findall(text))
    return found
