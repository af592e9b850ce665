"""Chat prompts for LLM backends, built from the user's real entries and the computed
facts, so the model writes about what happened and quotes numbers it can be checked on.

Bounded size: the entries get what is left of the context window after the answer,
the instructions and the facts (`PromptBudget`). When they do not fit line by line,
every entry is still accounted for in a summary by day and activity (with its id while
that fits), and only the most valuable entries are shown in full; the prompt says how
many of each, so nothing is cut silently. Descriptions longer than
`MAX_DESCRIPTION_CHARS` are shortened with a visible "[...]"."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

from englog.ai.analytics import Facts, minutes
from englog.ai.references import guide
from englog.ai.schemas import EntryPayload, InsightType
from englog.domain.localtime import local_date, zone

CHARS_PER_TOKEN = 3.5  # conservative for English text and JSON with small models
INSTRUCTION_TOKENS = 1100  # system prompt, task text, the references and the JSON schema
MAX_DESCRIPTION_CHARS = 300
MAX_TITLES_PER_GROUP = 3
_VALUE_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_IMPACT_RANK = {"personal": 0, "team": 1, "department": 2, "company": 3}

SYSTEM = (
    "You are EngLog's analyst. You write short, specific, friendly insights about a "
    "software engineer's logged work. Rules:\n"
    "1. Use only the FACTS and ENTRIES given. Never invent activities, projects or numbers.\n"
    "2. Write every figure as a reference in braces (listed below), which englog fills in "
    "from FACTS; a figure you write yourself must be one of the FACTS, as minutes, as "
    "hours (minutes / 60, one decimal) or as a percent (ratio x 100, no decimals).\n"
    "3. Put the ids of the entries your statements rely on in cited_entry_ids; only ids "
    "listed under ENTRIES. Do not write ids in the text.\n"
    "4. recommendations are concrete actions for next week, each tied to a fact.\n"
    "5. self_confidence is your estimate (0 to 1) that every statement is supported.\n"
    "6. Answer with one JSON object that matches the schema, nothing else.\n"
    "7. Compare with an earlier period only when FACTS has `previous` (and its `changes`).\n"
    "8. busiest_day, top_project and top_activity, when given, must be the ones FACTS "
    "shows; focus_areas are the tags or projects the work centred on."
)

FOCUS: dict[str, str] = {
    InsightType.PRODUCTIVITY: (
        "Assess productivity: focus time against meetings, time on high-value work, "
        "context switches and the longest focus stretch. Name what helped and what hurt."
    ),
    InsightType.SKILL_DEVELOPMENT: (
        "Assess skill development: learning and research time, the technical areas "
        "(tags, projects, entry descriptions) practised, and what to learn next."
    ),
    InsightType.TIME_MANAGEMENT: (
        "Assess time management: hours per day and their trend, idle and long days, "
        "fragmentation (entry length, context switches) and protected focus time."
    ),
    InsightType.TEAM_COLLABORATION: (
        "Assess team collaboration: meetings, code review, support, and how much work "
        "had team-wide or broader impact. Mention who benefits where entries say so."
    ),
    InsightType.PATTERNS: (
        "Find recurring patterns: which days are busiest, which activities recur, "
        "streaks, habits around meetings and focus blocks, recurring themes in tags "
        "and descriptions."
    ),
}
REPORT_FOCUS = (
    "Write the weekly report for {start} to {end}: a summary of the week, 3 to 6 "
    "highlights naming the most valuable work (from the entries), and recommendations."
)


@dataclass(frozen=True, slots=True)
class PromptBudget:
    """num_ctx: the model's context window in tokens (default 8192); num_predict: tokens
    kept for the answer (default 1024)."""

    num_ctx: int = 8192
    num_predict: int = 1024

    def __post_init__(self) -> None:
        if self.num_ctx < self.num_predict + INSTRUCTION_TOKENS + 256:
            raise ValueError(
                f"num_ctx {self.num_ctx} leaves no room for entries next to num_predict "
                f"{self.num_predict}; raise num_ctx or lower num_predict"
            )

    def chars_for_data(self) -> int:
        """Characters left for the facts and the entries."""
        return int((self.num_ctx - self.num_predict - INSTRUCTION_TOKENS) * CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The chat messages and how the entries were presented (confidence uses it)."""

    messages: list[dict[str, str]]
    entry_ids: frozenset[str]
    entries_in_full: int
    entries_summarised: int

    @property
    def detail_share(self) -> float:
        """Share of the entries the model saw in full; 1.0 when there are none."""
        total = self.entries_in_full + self.entries_summarised
        return self.entries_in_full / total if total else 1.0


# --- rendering ----------------------------------------------------------------------


def _clean(text: str) -> str:
    return " ".join(text.split())


def _description(entry: EntryPayload) -> str:
    text = _clean(entry.description or "")
    if len(text) > MAX_DESCRIPTION_CHARS:
        text = text[:MAX_DESCRIPTION_CHARS].rstrip() + " [...]"
    return f" -- {text}" if text else ""


def entry_line(entry: EntryPayload) -> str:
    """One entry with everything a narrative may use, on one line."""
    start, end = entry.start_time, entry.end_time
    parts = [
        f"- id={entry.id or '?'}",
        f"{start:%Y-%m-%d %a %H:%M}-{end:%H:%M} ({minutes(entry):.0f} min)",
        str(entry.type),
        f"project={entry.project}" if entry.project else "",
        f"value={entry.value_rating}",
        f"impact={entry.impact_level}",
        f"tags={','.join(entry.tags)}" if entry.tags else "",
    ]
    head = " | ".join(p for p in parts if p)
    return f"{head} | {_clean(entry.title)}{_description(entry)}"


def _priority(entry: EntryPayload) -> tuple[int, int, float]:
    """Most valuable first: value, then impact, then length."""
    rank = _VALUE_RANK.get(str(entry.value_rating), 0)
    return (-rank, -_IMPACT_RANK.get(str(entry.impact_level), 0), -minutes(entry))


def _groups(
    entries: Sequence[EntryPayload], key: Callable[[EntryPayload], tuple[str, ...]]
) -> dict[tuple[str, ...], list[EntryPayload]]:
    grouped: dict[tuple[str, ...], list[EntryPayload]] = defaultdict(list)
    for entry in entries:
        grouped[key(entry)].append(entry)
    return dict(sorted(grouped.items()))


def _group_line(name: str, group: Sequence[EntryPayload], ids: bool, titles: bool) -> str:
    total = sum(minutes(e) for e in group)
    line = f"- {name}: {len(group)} entries, {total:.0f} min"
    if ids:
        line += "; ids " + ", ".join(e.id or "?" for e in group)
    if titles:
        shown = [_clean(e.title) for e in sorted(group, key=_priority)[:MAX_TITLES_PER_GROUP]]
        more = len(group) - len(shown)
        line += "; e.g. " + "; ".join(shown) + (f" (+{more} more)" if more else "")
    return line


def _by_day_and_type(tz: tzinfo) -> Callable[[EntryPayload], tuple[str, ...]]:
    """Groups by the local day an entry starts on (the person's zone) and its type."""

    def key(entry: EntryPayload) -> tuple[str, ...]:
        return (f"{local_date(entry.start_time, tz):%Y-%m-%d %a}", str(entry.type))

    return key


def _by_type(entry: EntryPayload) -> tuple[str, ...]:
    return (str(entry.type),)


BY_DAY = "by the local day each entry starts on and its activity"
BY_ACTIVITY = "by activity only (one line per activity type, days merged)"


def summary_lines(
    entries: Sequence[EntryPayload], budget: int, tz: tzinfo = UTC
) -> tuple[list[str], bool, str]:
    """The most detailed summary of all entries that fits `budget` characters: by day
    and activity with ids and titles, then without titles, then without ids, then by
    activity alone. Returns the lines, whether they carry the ids, and how they are
    grouped (so the prompt's header says exactly what follows)."""
    by_day = _by_day_and_type(tz)
    levels = [
        (by_day, True, True, BY_DAY),
        (by_day, True, False, BY_DAY),
        (by_day, False, True, BY_DAY),
        (by_day, False, False, BY_DAY),
        (_by_type, False, False, BY_ACTIVITY),
    ]
    lines: list[str] = []
    for key, ids, titles, grouping in levels:
        lines = [
            _group_line(" ".join(name), group, ids, titles)
            for name, group in _groups(entries, key).items()
        ]
        if sum(len(line) + 1 for line in lines) <= budget:
            return lines, ids, grouping
    # the per-activity summary is at most 13 lines: always sent
    return lines, False, BY_ACTIVITY


@dataclass(frozen=True, slots=True)
class EntryBlock:
    text: str
    in_full: int
    summarised: int
    ids: frozenset[str]


def entries_block(entries: Sequence[EntryPayload], budget: int, tz: tzinfo = UTC) -> EntryBlock:
    """All entries line by line if they fit, else a summary of all of them plus the
    most valuable ones in full with what room is left."""
    full = [entry_line(e) for e in entries]
    if sum(len(line) + 1 for line in full) <= budget:
        ids = frozenset(e.id for e in entries if e.id)
        return EntryBlock("ENTRIES:\n" + "\n".join(full), len(entries), 0, ids)
    summary, with_ids, grouping = summary_lines(entries, budget // 2, tz)
    room = budget - sum(len(line) + 1 for line in summary)
    shown: list[EntryPayload] = []
    for entry in sorted(entries, key=_priority):
        line = entry_line(entry)
        if len(line) + 1 > room:
            break
        shown.append(entry)
        room -= len(line) + 1
    ids = {e.id for e in shown if e.id}
    if with_ids:
        ids |= {e.id for e in entries if e.id}
    text = (
        f"ENTRIES: {len(entries)} entries do not fit, so all of them are summarised "
        f"{grouping}{', with their ids' if with_ids else ''}, and the {len(shown)} most "
        "valuable are listed in full below.\n"
        "SUMMARY OF ALL ENTRIES:\n" + "\n".join(summary) + "\n"
        f"ENTRIES IN FULL ({len(shown)} of {len(entries)}):\n"
        + "\n".join(entry_line(e) for e in shown)
    )
    return EntryBlock(text, len(shown), len(entries) - len(shown), frozenset(ids))


def facts_block(facts: Facts) -> str:
    """The facts as JSON, under a header that says what their days and minutes are."""
    period = f"{facts.period_start} to {facts.period_end}" if facts.period_start else "no period"
    about = (
        f"About the facts: {period}, local days in {facts.time_zone}; minutes are counted "
        "on the day they were lived; daily_totals holds every day of the period, zeros "
        "included; total_minutes counts overlapping entries each, clock_minutes the time "
        "covered.\n"
    )
    header = about + "FACTS (computed, exact):\n"
    return header + json.dumps(facts.as_dict(), separators=(",", ":"))


LANGUAGES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
}


def _assemble(
    task: str,
    facts: Facts,
    entries: Sequence[EntryPayload],
    budget: PromptBudget,
    language: str = "en",
) -> Prompt:
    task += f"\nWrite in {LANGUAGES.get(language, language)}.\n{guide()}"
    fixed = facts_block(facts)
    tz = zone(facts.time_zone)
    block = entries_block(entries, max(0, budget.chars_for_data() - len(fixed)), tz)
    user = f"{task}\n\n{fixed}\n\n{block.text}"
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return Prompt(messages, block.ids, block.in_full, block.summarised)


def insight_prompt(
    insight_type: str,
    facts: Facts,
    entries: Sequence[EntryPayload],
    context: str | None = None,
    budget: PromptBudget | None = None,
    language: str = "en",
) -> Prompt:
    task = f"Insight type: {insight_type}. {FOCUS[insight_type]}"
    if context:
        task += f"\nThe engineer asks: {_clean(context)}"
    return _assemble(task, facts, entries, budget or PromptBudget(), language)


def report_prompt(
    start: date,
    end: date,
    facts: Facts,
    entries: Sequence[EntryPayload],
    budget: PromptBudget | None = None,
    language: str = "en",
) -> Prompt:
    task = REPORT_FOCUS.format(start=start.isoformat(), end=end.isoformat())
    return _assemble(task, facts, entries, budget or PromptBudget(), language)


def repair_message(problem: str) -> dict[str, str]:
    """Fed back after an answer that failed validation, so the next one can fix it."""
    return {
        "role": "user",
        "content": (
            f"Your previous answer was rejected: {problem}. Answer again with one JSON "
            "object that matches the schema exactly, keeping to the rules."
        ),
    }


TRUNCATED = "it was cut off by the token limit before the JSON ended; write a shorter answer"
