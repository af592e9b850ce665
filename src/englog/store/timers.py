"""Running timers as rows, the same for every backend: the fields as JSON text and the
start as ISO 8601 text with its offset, as the person's zone gave it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from englog.domain.entries import EntryFields
from englog.domain.timer import RunningTimer

SELECT_TIMER = "SELECT id, fields, start_time FROM timers WHERE user_id = {}"
SELECT_SETTINGS = (
    "SELECT timezone, week_start, weekly_target_hours, focus_target FROM users WHERE id = {}"
)


def timer_values(timer: RunningTimer) -> tuple[str, str, str]:
    """(id, fields, start_time) as stored."""
    return timer.id, json.dumps(timer.fields()), timer.start_time.isoformat()


def timer_of(row: Mapping[str, Any]) -> RunningTimer:
    return RunningTimer(
        **json.loads(row["fields"]),
        id=row["id"],
        start_time=datetime.fromisoformat(row["start_time"]),
    )


@dataclass(frozen=True, slots=True)
class Swap:
    """One `Store.swap_timer`: fenced on `expected_id` (None: no timer runs), it logs
    `finished` and makes `new` the running timer (None: none)."""

    user_id: str
    expected_id: str | None
    new: RunningTimer | None
    finished: EntryFields | None
