"""A realistic week of a backend engineer's entries, shipped with the package so the
demo, the builtin backend's tests and new users all have data without a database."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

SAMPLE_WEEK_START = date(2026, 11, 16)  # Monday
SAMPLE_WEEK_END = date(2026, 11, 22)  # Sunday (entries run Monday to Saturday)


def load_sample_week() -> list[dict[str, Any]]:
    """Entries in the REST body shape (`EntryFields`), a fresh list on every call."""
    text = resources.files("englog").joinpath("data/sample_week.json").read_text("utf-8")
    entries: list[dict[str, Any]] = json.loads(text)
    return entries
