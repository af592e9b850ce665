"""Every claim of a text a reader would act on, each checked against the facts.

- **Figures**: a number with its unit ("435 minutes", "7.25 h", "7 h 15 min", "33 %",
  "10 meetings", "5 entries tagged postgres") read in its sentence. The words near it
  name facts (`englog.ai.fact_index`): "33 % in meetings" names the meeting share. The
  claim holds when it agrees with one of the facts named closest to it, to its printed
  precision ("7.3 h" for 435 min), or within 10 % when hedged ("about 7 hours"). A
  figure with a unit whose words name no fact is checked, in its unit, against every
  fact of that kind; a bare number that names nothing is not a claim.
- **Days** (`englog.ai.day_claims`): the busiest, quietest or longest day, work on a
  day or the weekend, against the daily totals.
- **Comparisons** ("up from last week") only hold against the previous period's facts
  (`englog.ai.trend_claims`); with none in the request they are unsupported.
- **Names**: projects, activity types and tags named anywhere in the text are counted
  (checked claims that hold); a project the entries never mention ("the Zephyr
  project", "Most time went to Zephyr (12 h)") is unsupported.

Not claims: entry ids, identifiers (#412, PR 418, v2.14, 2.14.1, ABC-123), clock times,
dates, digits inside quoted names, and figures in advice ("aim for 4 h of focus")."""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from englog.ai.analytics import EntryLike, Facts
from englog.ai.fact_index import (
    Fact,
    Kind,
    Phrase,
    entry_facts,
    index_facts,
    known_names,
    words,
)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_IDENTIFIERS = [
    re.compile(r"\b[A-Z][A-Z0-9]+-\d+\b"),  # ticket keys: ABC-123
    re.compile(r"#\s?\d+\b"),  # PR #412, issue #7
    re.compile(r"\b[vV]\d+(?:\.\d+)*\b"),  # v2, v2.14
    re.compile(r"\b\d+(?:\.\d+){2,}\b"),  # 2.14.1
    re.compile(
        r"\b(?:prs?|mrs?|pull requests?|merge requests?|issues?|tickets?|bugs?|versions?|"
        r"releases?|rfcs?|builds?|python|postgres(?:ql)?|node|java|ruby|php|java|release|"
        r"k8s|sprint|iteration|q|week no\.?)\s*[#:]?\s*\d+(?:\.\d+)*\b",
        re.I,
    ),
    re.compile(r"\bto\s+\d+\.\d{2,}\b"),  # "upgraded to 2.14"
    # A version after a capitalised name: "export API 1.3", "Python 3.12".
    re.compile(r"(?<=[A-Z][\w])\s+\d+\.\d+\b(?!\s*(?:%|h\b|hrs?\b|hours?|min|percent))"),
]
_DATES = [
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"),
    re.compile(rf"\b(?:{_MONTHS})[a-z]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b", re.I),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})[a-z]*\b", re.I),
]
_CLOCK = [
    re.compile(r"\b\d{1,2}:\d{1,2}(?:\s*[ap]\.?m\.?)?(?![\d])", re.I),
    re.compile(r"\b\d{1,2}\s*[ap]\.?m\b\.?", re.I),
    re.compile(r"\b\d{1,2}(?:am|pm)\b", re.I),
]
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_GLUED_HM = re.compile(r"\b(\d+)\s?h\s?(\d{1,2})\s?m(?:in)?\b", re.I)  # 7h15m, 7h 15min
_GLUED_H_MIN = re.compile(r"\b(\d+)h(\d{2})\b", re.I)  # 7h15
_GLUED_UNIT = re.compile(r"(?<=\d)(h|hrs?|m|mins?|pp)\b", re.I)
_QUOTED = re.compile(r'"([^"]*)"|“([^”]*)”|`([^`]*)`')
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_TOKEN = re.compile(
    r"(?P<num>(?<![\w.\-+])[+\-]?\d+(?:\.\d+)?(?![\w]|-\w))|(?P<pct>%)|(?P<word>[^\W\d_]+)"
    r"|(?P<sep>[,()])"
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}
_HOURS = frozenset({"h", "hr", "hrs", "hour", "hours"})
_MINUTES = frozenset({"m", "min", "mins", "minute", "minutes"})
_PERCENT = frozenset({"%", "percent", "pct"})
_POINTS = frozenset({"pp", "points", "point"})
_COUNTS = _word_set(
    "entries entry days day projects project times switches switch types tags sessions "
    "session meetings meeting standups standup reviews review items tasks incidents nights "
    "night weekdays evenings prs"
)
_NUMBER_WORD = re.compile(
    r"\b("
    + "|".join(list(_NUMBER_WORDS)[2:])
    + r")\s+(?=(?:[a-z]+\s+)?(?:"
    + "|".join(sorted(_COUNTS))
    + r")\b)",
    re.I,
)
_HEDGES = _word_set(
    "about around roughly approximately approx nearly almost some circa over under ~ close"
)
_ADVICE = _word_set(
    "aim target goal try consider reserve schedule should could would recommend suggest "
    "limit cap aiming targeting"
)
ENTRY_LABELS = ("entry ", "all ")  # facts about single entries (fact_index.entry_facts)
CHANGE_LABEL = "change"
HEDGE_TOLERANCE = 0.10  # "about 7 hours" may be 10 % off
NAMED_SHARE = 0.5  # facts named at least half as closely as the closest one count
BARRIER = 4
_BARRIERS = frozenset({"and", "but", "while", "whereas", "vs", "versus", "against"})
MIN_CLOSENESS = 0.12  # a naming word at most 6 words away; farther ones name nothing

_PROJECT_NOUNS = r"(?:projects?|repos?|repository|repositories|services?|codebases?|workstreams?)"
_PROJECT = re.compile(
    rf'\b{_PROJECT_NOUNS}\s+["“`]([^"”`]+)["”`]|["“`]([^"”`]+)["”`]\s+{_PROJECT_NOUNS}\b'
    rf"|\b{_PROJECT_NOUNS}\s+([A-Z][\w\-]*)|\b([A-Z][\w\-]*[\w])\s+{_PROJECT_NOUNS}\b"
    rf"|\b(?:the|a|an|on|for|to|in)\s+([a-z][\w\-]*[\w])\s+{_PROJECT_NOUNS}\b"
    r"|\b(?:to|on|for|in)\s+([A-Z][\w\-]+)\s*(?:\(|:|,|-)?\s*(?:about\s+)?\d"
    r"|\d\s*(?:h|hrs?|hours?|min|minutes?|%)\s+(?:\w+\s+)?(?:to|on|for|in|into)\s+([A-Z][\w\-]+)"
    r"|(?<![.!?:]\s)(?<!^)\b([A-Z][a-z]+[\w\-]*)\s+(?:took|spent|got|needed|ate|used)\s+\d",
)
_NOT_NAMES = _word_set(
    "the this that each every your a an one any main top same other new biggest largest "
    "whole most its their our my two three four five several both all these those which "
    "his her side pet own key core primary secondary named single two different many"
)
_COMMON_CAPITALISED = _word_set(
    "i monday tuesday wednesday thursday friday saturday sunday january february march "
    "april may june july august september october november december"
)


@dataclass(frozen=True, slots=True)
class Claim:
    sentence: str
    written: str  # "7.25 h" as the text has it
    number: float
    unit: str | None  # "h", "min", "%", "pp", a count word, or None
    decimals: int
    hedged: bool
    position: int  # token index in the sentence
    signed: bool = False  # "+3.5 h": a change


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


@dataclass(frozen=True, slots=True)
class Finding:
    """A claim that is not a figure: a day, a comparison, a structured field."""

    kind: str  # "day", "trend", "field"
    sentence: str
    holds: bool
    why: str = ""

    def describe(self) -> str:
        return f'"{self.sentence}": {self.why}'


@dataclass(slots=True)
class ClaimCheck:
    """What a set of texts claims and how much of it holds."""

    verdicts: list[Verdict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    projects_named: int = 0  # mentions of a project by name ("the api project")
    unknown_projects: list[str] = field(default_factory=list)
    names_mentioned: int = 0  # known projects, types and tags named anywhere
    references: int = 0  # figures written as references: filled in from the facts

    @property
    def numbers(self) -> int:
        return len(self.verdicts)

    @property
    def agreeing(self) -> int:
        return sum(v.holds for v in self.verdicts)

    @property
    def substantive(self) -> int:
        """Checked claims a reader acts on: figures, days, comparisons, fields."""
        return self.numbers + len(self.findings) + self.references

    @property
    def failures(self) -> int:
        wrong_figures = self.numbers - self.agreeing
        return wrong_figures + sum(not f.holds for f in self.findings) + len(self.unknown_projects)

    @property
    def checked(self) -> int:
        return self.substantive + self.names_mentioned + len(self.unknown_projects)

    def agreement(self, none: float) -> float:
        """Share of numeric claims that hold; `none` when there is no claim."""
        return round(self.agreeing / self.numbers, 3) if self.numbers else none

    def name_validity(self) -> float:
        """Share of the projects named that the entries have; 1.0 when none is named."""
        named = self.projects_named + self.names_mentioned
        if not named:
            return 1.0
        return round(1.0 - len(self.unknown_projects) / named, 3)

    def unsupported(self) -> list[str]:
        lines = [v.describe() for v in self.verdicts if not v.holds]
        lines += [f.describe() for f in self.findings if not f.holds]
        return lines + [f'project "{p}" is not in the entries' for p in self.unknown_projects]


def _sub_all(patterns: Iterable[re.Pattern[str]], text: str) -> str:
    for pattern in patterns:
        text = pattern.sub(" ", text)
    return text


def _prepare(text: str, ids: Iterable[str]) -> str:
    """Ids, identifiers, clock times, dates and digits in quoted names are not claims;
    "2,115" is one number, "7h15" is "7 h 15 min", "ten meetings" is "10 meetings"."""
    for entry_id in ids:
        if entry_id:
            text = text.replace(entry_id, " ")
    text = _QUOTED.sub(
        lambda m: " " + re.sub(r"\d", " ", next(g for g in m.groups() if g is not None)) + " ", text
    )
    text = _sub_all(_IDENTIFIERS, text)
    text = _sub_all(_DATES, text)
    text = _sub_all(_CLOCK, text)
    text = _THOUSANDS.sub("", text)
    text = _GLUED_HM.sub(r"\1 h \2 min", text)
    text = _GLUED_H_MIN.sub(r"\1 h \2 min", text)
    text = _GLUED_UNIT.sub(r" \1", text)
    text = text.replace("~", " about ")
    return _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()] + " ", text)


def tokens_of(sentence: str, ids: Iterable[str] = ()) -> list[tuple[str, str]]:
    prepared = _prepare(sentence, ids).lower()
    return [(m.lastgroup or "", m.group(0)) for m in _TOKEN.finditer(prepared)]


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
    if text in _POINTS:
        return "pp"
    if text == "percentage" and i + 2 < len(tokens) and tokens[i + 2][1] in _POINTS:
        return "pp"
    return text if text in _COUNTS else None


def _compound(tokens: list[tuple[str, str]], i: int) -> int | None:
    """Index of the minutes of "7 h 15 min" / "1 hour and 30 minutes" after hours at i."""
    j = i + 2
    if j < len(tokens) and tokens[j][1] == "and":
        j += 1
    if j < len(tokens) and tokens[j][0] == "num" and _unit(tokens, j) == "min":
        return j
    return None


def _claims(sentence: str, tokens: list[tuple[str, str]]) -> list[Claim]:
    if any(t in _ADVICE for _, t in tokens):
        return []  # advice states what to do, not what happened
    found: list[Claim] = []
    skip: set[int] = set()
    for i, (kind, text) in enumerate(tokens):
        if kind != "num" or i in skip:
            continue
        unit = _unit(tokens, i)
        if unit is None and i + 2 < len(tokens) and tokens[i + 1][1] == "of":
            if tokens[i + 2][0] == "num":
                unit = _unit(tokens, i + 2)  # "6 of 7 days"
        hedged = any(t in _HEDGES for _, t in tokens[max(0, i - 2) : i])
        number = abs(float(text))
        decimals = len(text.split(".")[1]) if "." in text else 0
        written = f"{text} {unit}" if unit else text
        if unit == "h" and decimals == 0 and (j := _compound(tokens, i)) is not None:
            skip.add(j)
            number = number * 60 + abs(float(tokens[j][1]))
            written, unit = f"{text} h {tokens[j][1]} min", "min"
        signed = text[0] in "+-"
        found.append(Claim(sentence, written, number, unit, decimals, hedged, i, signed))
    return found


def _kinds(unit: str | None) -> tuple[Kind, ...]:
    if unit in ("h", "min"):
        return (Kind.DURATION,)
    if unit in ("%", "pp"):
        return (Kind.RATIO,)
    if unit is not None:
        return (Kind.COUNT,)
    return (Kind.DURATION, Kind.RATIO, Kind.COUNT)


def _as_written(fact: Fact, unit: str | None) -> list[float]:
    """The fact's value in the units the claim may be written in."""
    value = abs(fact.value)
    if fact.kind is Kind.DURATION:
        return {"h": [value / 60], "min": [value]}.get(unit, [value, value / 60])
    if fact.kind is Kind.RATIO:
        return [value * 100] if unit in ("%", "pp") else [value * 100, value]
    return [value]


def agrees(claim: Claim, fact: Fact) -> bool:
    tolerance = 0.5 * 10**-claim.decimals + 1e-9
    if claim.hedged:
        tolerance = max(tolerance, HEDGE_TOLERANCE * abs(claim.number))
    return any(abs(claim.number - v) <= tolerance for v in _as_written(fact, claim.unit))


_NOT_PREFIXED = frozenset({"totalling", "totaling", "totalled", "totaled"})  # "amounting to"


def _matches(phrase: Phrase, tokens: list[tuple[str, str]], at: int) -> bool:
    if phrase and phrase[0] in (">", "~"):
        phrase = phrase[1:]
    for offset, word in enumerate(phrase):
        if at + offset >= len(tokens):
            return False
        token = tokens[at + offset][1]
        if token in _NOT_PREFIXED:
            return False
        if not (token in (word, word + "s") or (len(word) >= 4 and token.startswith(word))):
            return False
    return True


def _distance(claim: Claim, at: int, tokens: list[tuple[str, str]]) -> int:
    """1 + the words between a claim and a naming word; words after it count from its unit
    ("145 min of focus" names focus), and a comma, bracket or "and" between them
    weighs as BARRIER words ("290 min of meetings and 145 min of focus")."""
    end = claim.position + (1 if claim.unit else 0)
    if " h " in f" {claim.written} " and claim.unit == "min":
        end = claim.position + 3  # "7 h 15 min"
    low, high = (at, claim.position) if at < claim.position else (end, at)
    between = range(low + 1, high)
    n_words = sum(1 for k in between if tokens[k][0] == "word")
    return 1 + n_words + BARRIER * sum(1 for k in between if _is_barrier(tokens, k))


def _is_barrier(tokens: list[tuple[str, str]], k: int) -> bool:
    """A comma in a list of numbers ("totals 60, 100, 0") keeps them together."""
    kind, text = tokens[k]
    if text == "and":  # "290 min of meetings and 145 min", not "learning and research"
        after = tokens[k + 1][0] if k + 1 < len(tokens) else ""
        before = tokens[k - 1][0] if k > 0 else ""
        return after == "num" or before in ("num", "pct") or _after_unit(tokens, k)
    if text in _BARRIERS:
        return True
    if kind != "sep":
        return False
    before = tokens[k - 1][0] if k > 0 else ""
    after = tokens[k + 1][0] if k + 1 < len(tokens) else ""
    return not (text == "," and before in ("num", "pct") and after == "num")


UNIT_DISTANCE = 3  # the unit word itself ("5 days") names facts only weakly


def _names_at(phrase: Phrase, tokens: list[tuple[str, str]], at: int, claim: Claim) -> bool:
    if phrase and phrase[0] == ">" and at > claim.position:
        return False  # names only the figure after it
    return _matches(phrase, tokens, at)


def _after_unit(tokens: list[tuple[str, str]], k: int) -> bool:
    """True when the word before k is the unit of a figure ("290 min and ...")."""
    return k >= 2 and tokens[k - 2][0] == "num"


def _closeness(fact: Fact, tokens: list[tuple[str, str]], claim: Claim) -> float:
    best = 0.0
    for at in range(len(tokens)):
        if tokens[at][0] == "num" or at == claim.position:
            continue
        if at != claim.position + 1 and _unit(tokens, at - 1) and tokens[at - 1][0] == "num":
            continue  # the unit of another figure ("32 entries on 6 days") names that one
        for phrase in fact.names:
            if not _names_at(phrase, tokens, at, claim):
                continue
            distance = _distance(claim, at, tokens)
            weak = phrase[0] == "~" or (claim.unit is not None and at == claim.position + 1)
            best = max(best, 1.0 / (1 + distance + (UNIT_DISTANCE if weak else 0)))
    return best


def _named(claim: Claim, candidates: Sequence[Fact], tokens: list[tuple[str, str]]) -> list[Fact]:
    scored = [(f, _closeness(f, tokens, claim)) for f in candidates]
    top = max((s for _, s in scored), default=0.0)
    return [f for f, s in scored if top >= MIN_CLOSENESS and s > NAMED_SHARE * top + 1e-9]


def _sums(named: Sequence[Fact]) -> list[Fact]:
    """ "Learning and research together made up 6 %": two named facts added up."""
    plain = list(
        {
            f.label: f
            for f in named
            if not f.label.startswith(ENTRY_LABELS) and CHANGE_LABEL not in f.label
        }.values()
    )
    return [
        Fact(f"{a.label} + {b.label}", a.kind, a.value + b.value, ())
        for a, b in itertools.combinations(plain[:8], 2)
        if a.kind is b.kind and set(a.names).isdisjoint(b.names)
    ]


def _judge(
    claim: Claim,
    facts: Sequence[Fact],
    tokens: list[tuple[str, str]],
    identifiers: frozenset[str] = frozenset(),
) -> Verdict | None:
    """The verdict on a claim; None for a bare number that names no fact, or that
    follows a name as its version ("export API 1.3")."""
    kinds = _kinds(claim.unit)
    if claim.unit is None and claim.position > 0 and tokens[claim.position - 1][1] in identifiers:
        return None
    candidates = [f for f in facts if f.kind in kinds]
    named = _named(claim, candidates, tokens)
    if not named and claim.unit is None:
        return None
    aggregates = [f for f in candidates if not f.label.startswith(ENTRY_LABELS)]
    pool = named or candidates
    if named and all(f.label.startswith(ENTRY_LABELS) for f in named):
        pool = named + aggregates  # a title word ("entries") is weak evidence of the fact
    if claim.signed:
        pool = pool + [f for f in candidates if CHANGE_LABEL in f.label]
    pool = pool + _sums(named)
    return Verdict(claim, any(agrees(claim, f) for f in pool), tuple(named))


def _projects(text: str, known: set[Phrase]) -> tuple[int, list[str]]:
    """(projects named, those unknown). Lenient: a name sharing a word with a known
    project, tag, activity or entry title ("the API project" for "api-gateway") is
    known, so only a name the entries never mention counts as invented."""
    known_words = {w for phrase in known for w in phrase}
    named, unknown = 0, []
    for match in _PROJECT.finditer(text):
        name = next(g for g in match.groups() if g)
        name_words = words(name)
        if name.lower() in _NOT_NAMES or not name_words:
            continue
        if set(name_words) <= _COMMON_CAPITALISED | _NOT_NAMES:
            continue
        named += 1
        if not set(name_words) & known_words:
            unknown.append(name)
    return named, unknown


def _mentions(tokens: list[tuple[str, str]], names: set[Phrase]) -> int:
    """How many of the known names (projects, types, tags) the sentence mentions."""
    found = 0
    for phrase in names:
        if any(_matches(phrase, tokens, at) for at in range(len(tokens))):
            found += 1
    return found


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def check_claims(
    texts: Iterable[str],
    facts: Facts,
    ids: Collection[str] = (),
    names: Iterable[str] = (),
    entries: Iterable[EntryLike] = (),
) -> ClaimCheck:
    """Every claim in `texts` judged against the facts; `names` are further known names
    (entry titles, projects, tags) a text may mention; `entries` add each entry's own
    duration, named by its title ("the 4.5 h on-call page")."""
    from englog.ai.day_claims import day_findings
    from englog.ai.trend_claims import trend_findings

    aggregate = index_facts(facts)
    entries = list(entries)
    indexed = aggregate + entry_facts(entries)
    own = known_names(facts)
    known = own | {words(n) for n in names}
    fact_words = {w for fact in aggregate for p in fact.names for w in p}
    titles = {w for e in entries for w in words(str(getattr(e, "title", "") or ""))}
    identifiers = frozenset((titles | {w for n in known for w in n}) - fact_words)
    check = ClaimCheck()
    for text in texts:
        named, unknown = _projects(text, known)
        check.projects_named += named
        check.unknown_projects += unknown
        for sentence in sentences(text):
            tokens = tokens_of(sentence, ids)
            check.names_mentioned += _mentions(tokens, own)
            for claim in _claims(sentence, tokens):
                if (verdict := _judge(claim, indexed, tokens, identifiers)) is not None:
                    check.verdicts.append(verdict)
            check.findings += day_findings(sentence, tokens, facts)
            check.findings += trend_findings(sentence, tokens, facts)
    return check


def entry_names(entries: Iterable[EntryLike]) -> list[str]:
    """What entries may be called in a text: titles, descriptions, projects and tags."""
    names: list[str] = []
    for e in entries:
        names += [
            getattr(e, "title", ""),
            getattr(e, "description", "") or "",
            e.project or "",
            *e.tags,
        ]
    return [n for n in names if n]
