"""Numeric claims of a text, each checked against the fact it claims to be.

A claim is a number with its unit ("435 minutes", "7.25 h", "33 %", "12 entries")
read in its sentence. The words near it name facts (`englog.ai.fact_index`): "33 %
in meetings" names the meeting share, "Observed totals 60" the total logged time. The
claim holds when it agrees with one of the facts named closest to it, to its printed
precision ("7.3 h" for 435 min), or within 10 % when hedged ("about 7 hours"). Named
facts that all disagree make the claim *unsupported*, listed with the sentence so a
reader sees which one to distrust. A number whose words name no fact is checked, in
its unit, against every fact of that kind.

Also unsupported: a project the text names that is not in the entries ("the Zephyr
project"). Not claims: entry ids, clock times, ISO dates and digits inside quoted
names.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from englog.ai.analytics import EntryLike, Facts
from englog.ai.fact_index import Fact, Kind, Phrase, index_facts, known_names, words


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_CLOCK_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")
_QUOTED = re.compile(r'"([^"]*)"')
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_TOKEN = re.compile(
    r"(?P<num>(?<![\w.\-])\d+(?:\.\d+)?)|(?P<pct>%)|(?P<word>[a-z]+)|(?P<sep>[,()])"
)
_PROJECT = re.compile(
    r'\bprojects?\s+"([^"]+)"|"([^"]+)"\s+project\b'
    r"|\bprojects?\s+([A-Z][\w\-]*)|\b([A-Z][\w\-]*)\s+project\b"
)
_NOT_NAMES = _word_set(
    "the this that each every your a an one any main top same other new biggest "
    "largest whole most its their our my"
)
_HOURS = frozenset({"h", "hr", "hrs", "hour", "hours"})
_MINUTES = frozenset({"min", "mins", "minute", "minutes"})
_PERCENT = frozenset({"%", "percent"})
_COUNTS = _word_set(
    "entries entry days day projects project times switches switch types tags sessions"
)
_HEDGES = _word_set("about around roughly approximately approx nearly almost some circa over under")
HEDGE_TOLERANCE = 0.10  # "about 7 hours" may be 10 % off
NAMED_SHARE = 0.5  # facts named at least half as closely as the closest one count
BARRIER = 4
_BARRIERS = frozenset({"and", "but", "while", "whereas", "vs", "versus"})
MIN_CLOSENESS = 0.2  # a naming word at most 4 words away; farther ones name nothing


@dataclass(frozen=True, slots=True)
class Claim:
    sentence: str
    written: str  # "7.25 h" as the text has it
    number: float
    unit: str | None  # "h", "min", "%", a count word, or None
    decimals: int
    hedged: bool
    position: int  # token index in the sentence


@dataclass(frozen=True, slots=True)
class Verdict:
    claim: Claim
    holds: bool
    named: tuple[Fact, ...]  # the facts its words name; () when they name none

    def describe(self) -> str:
        c = self.claim
        if self.named:
            shown = dict.fromkeys(f"{f.label} is {f.shown()}" for f in self.named)
            expected = "; ".join(list(shown)[:3])
            return f'"{c.sentence}": {c.written} contradicts the facts ({expected})'
        return f'"{c.sentence}": {c.written} matches no fact'


@dataclass(slots=True)
class ClaimCheck:
    """What a set of texts claims and how much of it holds."""

    verdicts: list[Verdict] = field(default_factory=list)
    projects_named: int = 0  # mentions of a project by name ("the api project")
    unknown_projects: list[str] = field(default_factory=list)

    @property
    def numbers(self) -> int:
        return len(self.verdicts)

    @property
    def agreeing(self) -> int:
        return sum(v.holds for v in self.verdicts)

    def agreement(self, none: float) -> float:
        """Share of numeric claims that hold; `none` when there is no claim."""
        return round(self.agreeing / self.numbers, 3) if self.numbers else none

    def name_validity(self) -> float:
        """Share of the projects named that the entries have; 1.0 when none is named."""
        if not self.projects_named:
            return 1.0
        return round(1.0 - len(self.unknown_projects) / self.projects_named, 3)

    def unsupported(self) -> list[str]:
        lines = [v.describe() for v in self.verdicts if not v.holds]
        return lines + [f'project "{p}" is not in the entries' for p in self.unknown_projects]


def _prepare(text: str, ids: Iterable[str]) -> str:
    """Ids, clock times, ISO dates and digits in quoted names are not claims; "2,115"
    is one number."""
    for entry_id in ids:
        if entry_id:
            text = text.replace(entry_id, " ")
    text = _CLOCK_TIME.sub(" ", text)
    text = _ISO_DATE.sub(" ", text)
    text = _THOUSANDS.sub("", text)
    return _QUOTED.sub(lambda m: " " + re.sub(r"\d", " ", m.group(1)) + " ", text)


def _unit(tokens: list[tuple[str, str]], i: int) -> str | None:
    if i + 1 >= len(tokens):
        return None
    kind, text = tokens[i + 1]
    if kind == "pct" or text in _PERCENT:
        return "%"
    if text in _HOURS:
        return "h"
    if text in _MINUTES:
        return "min"
    return text if text in _COUNTS else None


def _claims(sentence: str, tokens: list[tuple[str, str]]) -> list[Claim]:
    found = []
    for i, (kind, text) in enumerate(tokens):
        if kind != "num":
            continue
        unit = _unit(tokens, i)
        hedged = any(t in _HEDGES for _, t in tokens[max(0, i - 2) : i])
        decimals = len(text.split(".")[1]) if "." in text else 0
        written = f"{text} {unit}" if unit else text
        found.append(Claim(sentence, written, float(text), unit, decimals, hedged, i))
    return found


def _kinds(unit: str | None) -> tuple[Kind, ...]:
    if unit in ("h", "min"):
        return (Kind.DURATION,)
    if unit == "%":
        return (Kind.RATIO,)
    if unit is not None:
        return (Kind.COUNT,)
    return (Kind.DURATION, Kind.RATIO, Kind.COUNT)


def _as_written(fact: Fact, unit: str | None) -> list[float]:
    """The fact's value in the units the claim may be written in."""
    if fact.kind is Kind.DURATION:
        return {"h": [fact.value / 60], "min": [fact.value]}.get(
            unit, [fact.value, fact.value / 60]
        )
    if fact.kind is Kind.RATIO:
        return [fact.value * 100] if unit == "%" else [fact.value * 100, fact.value]
    return [fact.value]


def agrees(claim: Claim, fact: Fact) -> bool:
    tolerance = 0.5 * 10**-claim.decimals + 1e-9
    if claim.hedged:
        tolerance = max(tolerance, HEDGE_TOLERANCE * abs(claim.number))
    return any(abs(claim.number - v) <= tolerance for v in _as_written(fact, claim.unit))


def _matches(phrase: Phrase, tokens: list[tuple[str, str]], at: int) -> bool:
    for offset, word in enumerate(phrase):
        if at + offset >= len(tokens):
            return False
        token = tokens[at + offset][1]
        if not (token in (word, word + "s") or (len(word) >= 4 and token.startswith(word))):
            return False
    return True


def _distance(claim: Claim, at: int, tokens: list[tuple[str, str]]) -> int:
    """1 + the words between a claim and a naming word; words after it count from its unit
    ("145 min of focus" names focus), and a comma, bracket or "and" between them
    weighs as BARRIER words ("290 min of meetings and 145 min of focus")."""
    end = claim.position + (1 if claim.unit else 0)
    low, high = (at, claim.position) if at < claim.position else (end, at)
    between = range(low + 1, high)
    words = sum(1 for k in between if tokens[k][0] == "word")
    return 1 + words + BARRIER * sum(1 for k in between if _is_barrier(tokens, k))


def _is_barrier(tokens: list[tuple[str, str]], k: int) -> bool:
    """A comma in a list of numbers ("totals 60, 100, 0") keeps them together."""
    kind, text = tokens[k]
    if text in _BARRIERS:
        return True
    if kind != "sep":
        return False
    before = tokens[k - 1][0] if k > 0 else ""
    after = tokens[k + 1][0] if k + 1 < len(tokens) else ""
    return not (text == "," and before in ("num", "pct") and after == "num")


def _closeness(fact: Fact, tokens: list[tuple[str, str]], claim: Claim) -> float:
    best = 0.0
    for at in range(len(tokens)):
        if at != claim.position and any(_matches(p, tokens, at) for p in fact.names):
            best = max(best, 1.0 / (1 + _distance(claim, at, tokens)))
    return best


def _named(claim: Claim, candidates: Sequence[Fact], tokens: list[tuple[str, str]]) -> list[Fact]:
    scored = [(f, _closeness(f, tokens, claim)) for f in candidates]
    top = max((s for _, s in scored), default=0.0)
    return [f for f, s in scored if top >= MIN_CLOSENESS and s >= NAMED_SHARE * top]


def _judge(claim: Claim, facts: Sequence[Fact], tokens: list[tuple[str, str]]) -> Verdict:
    kinds = _kinds(claim.unit)
    candidates = [f for f in facts if f.kind in kinds]
    named = _named(claim, candidates, tokens)
    pool = named or candidates
    return Verdict(claim, any(agrees(claim, f) for f in pool), tuple(named))


def _projects(text: str, known: set[Phrase]) -> tuple[int, list[str]]:
    """(projects named, those unknown). Lenient: a name sharing a word with a known
    project, tag, activity or entry title ("the API project" for "api-gateway") is
    known, so only a name the entries never mention counts as invented."""
    known_words = {w for phrase in known for w in phrase}
    named, unknown = 0, []
    for match in _PROJECT.finditer(text):
        name = next(g for g in match.groups() if g)
        if name.lower() in _NOT_NAMES or not words(name):
            continue
        named += 1
        if not set(words(name)) & known_words:
            unknown.append(name)
    return named, unknown


def check_claims(
    texts: Iterable[str], facts: Facts, ids: Collection[str] = (), names: Iterable[str] = ()
) -> ClaimCheck:
    """Every numeric claim in `texts` judged against the facts it names; `names` are
    further known names (entry titles, projects, tags) a text may mention."""
    indexed = index_facts(facts)
    known = known_names(facts) | {words(n) for n in names}
    check = ClaimCheck()
    for text in texts:
        named, unknown = _projects(text, known)
        check.projects_named += named
        check.unknown_projects += unknown
        for sentence in _SENTENCE_END.split(text):
            prepared = _prepare(sentence, ids).lower()
            tokens = [(m.lastgroup or "", m.group(0)) for m in _TOKEN.finditer(prepared)]
            for claim in _claims(sentence.strip(), tokens):
                check.verdicts.append(_judge(claim, indexed, tokens))
    return check


def entry_names(entries: Iterable[EntryLike]) -> list[str]:
    """What entries may be called in a text: titles, projects and tags."""
    names: list[str] = []
    for e in entries:
        names += [getattr(e, "title", ""), e.project or "", *e.tags]
    return [n for n in names if n]
