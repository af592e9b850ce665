"""Comparisons with an earlier period ("up from last week", "meetings dropped"): only a
request that carried the previous period's entries can support one (`Facts.previous`,
`englog.ai.trends`). Without it every comparison is unsupported; with it the direction
of the change is checked for the metric it names (total, focus, meetings, the top
project), and its figures are checked as claims like any other (`fact_index` holds the
previous values and the changes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from englog.ai.analytics import NO_PROJECT, Facts

if TYPE_CHECKING:  # claims imports this module
    from englog.ai.claims import Finding

# Words that point at an earlier period.
_PERIODS = (
    ("last", "week"),
    ("previous", "week"),
    ("prior", "week"),
    ("earlier", "week"),
    ("week", "before"),
    ("last", "period"),
    ("previous", "period"),
    ("prior", "period"),
    ("last", "sprint"),
    ("previous", "sprint"),
    ("over", "week"),  # week over week
    ("wow",),
    ("up", "from"),
    ("down", "from"),
    ("than", "before"),
    ("than", "last"),
    ("since", "last"),
)
# A change verb compares too, when its subject is one of the figures englog tracks
# ("meeting time dropped"), not something an entry describes ("5xx errors dropped").
_VERBS = frozenset(
    [
        "increased",
        "decreased",
        "rose",
        "fell",
        "dropped",
        "grew",
        "declined",
        "climbed",
        "doubled",
        "halved",
        "jumped",
        "shrank",
    ]
)
_TRACKED = frozenset({"total", "logged", "hours", "workload", "focus", "meeting", "meetings"})
_UP = frozenset(
    [
        "up",
        "more",
        "increase",
        "increased",
        "rose",
        "grew",
        "higher",
        "climbed",
        "jumped",
        "doubled",
        "gained",
        "longer",
    ]
)
_DOWN = frozenset(
    [
        "down",
        "less",
        "fewer",
        "decrease",
        "decreased",
        "fell",
        "dropped",
        "lower",
        "declined",
        "halved",
        "shrank",
        "shorter",
        "reduced",
    ]
)
_FLAT = frozenset(["flat", "steady", "same", "unchanged", "similar", "stable"])
FLAT_SHARE = 0.05  # a change under 5 % of the previous value is "steady"


def _has(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1))


def _metric(words: list[str], facts: Facts) -> tuple[str, float, float] | None:
    """(metric, change, previous value) of the measure the sentence compares."""
    changes, prev = facts.changes, facts.previous or {}
    share = "%" in words or "share" in words or "percent" in words
    if any(w.startswith("meeting") for w in words):
        if share:
            return (
                "meeting share",
                changes.get("meeting_share_change", 0.0),
                prev.get("meeting_share", 0.0),
            )
        return (
            "meeting time",
            changes.get("meeting_minutes_change", 0.0),
            prev.get("meeting_minutes", 0.0),
        )
    if "focus" in words or "deep" in words:
        if share:
            return (
                "focus share",
                changes.get("focus_ratio_change", 0.0),
                prev.get("focus_ratio", 0.0),
            )
        return (
            "focus time",
            changes.get("focus_minutes_change", 0.0),
            prev.get("focus_minutes", 0.0),
        )
    top = next((p for p in facts.minutes_by_project if p != NO_PROJECT), None)
    if top is not None and set(top.lower().replace("-", " ").split()) & set(words):
        before = (prev.get("minutes_by_project") or {}).get(top, 0.0)
        return f"{top} time", changes.get("top_project_minutes_change", 0.0), before
    if set(words) & {"total", "logged", "hours", "time", "workload", "worked", "overall"}:
        return (
            "total time",
            changes.get("total_minutes_change", 0.0),
            prev.get("total_minutes", 0.0),
        )
    return None


def trend_findings(sentence: str, tokens: list[tuple[str, str]], facts: Facts) -> list[Finding]:
    from englog.ai.claims import Finding

    words = [t for _, t in tokens]
    period = any(_has(words, m) for m in _PERIODS)
    tracked = _TRACKED | {w for p in facts.minutes_by_project for w in p.lower().split("-")}
    if not period and not (set(words) & _VERBS and set(words) & tracked):
        return []
    if facts.previous is None:
        why = "compares with an earlier period, but the request carried none"
        return [Finding("trend", sentence, False, why)]
    metric = _metric(words, facts)
    said = set(words)
    direction = "up" if said & _UP else "down" if said & _DOWN else "flat" if said & _FLAT else None
    if metric is None or direction is None:
        return [Finding("trend", sentence, True)]
    name, change, before = metric
    steady = abs(change) <= FLAT_SHARE * abs(before) if before else change == 0
    holds = {"up": change > 0 and not steady, "down": change < 0 and not steady, "flat": steady}
    # "up" with a tiny real increase still holds: only the sign is claimed.
    ok = (
        holds[direction]
        or (direction == "up" and change > 0)
        or (direction == "down" and change < 0)
    )
    return [Finding("trend", sentence, ok, f"{name} changed by {change:+g}, not {direction}")]
