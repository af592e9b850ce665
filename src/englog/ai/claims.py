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
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from englog.ai.analytics import EntryLike, Facts
from englog.ai.claim_text import (
    ADVICE,
    HEDGES,
    compound,
    sentences,
    tokens_of,
    unit_of,
)
from englog.ai.fact_index import (
    Fact,
    Kind,
    Phrase,
    entry_facts,
    index_facts,
    known_names,
    words,
)
from englog.ai.names import projects_named

ENTRY_LABELS = ("entry ", "all ")  # facts about single entries (fact_index.entry_facts)
CHANGE_LABEL = "change"
HEDGE_TOLERANCE = 0.10  # "about 7 hours" may be 10 % off
NAMED_SHARE = 0.5  # facts named at least half as closely as the closest one count
BARRIER = 4
_BARRIERS = frozenset({"and", "but", "while", "whereas", "vs", "versus", "against"})
MIN_CLOSENESS = 0.12  # a naming word at most 6 words away; farther ones name nothing


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


def _advice(tokens: list[tuple[str, str]]) -> bool:
    return any(t in ADVICE for _, t in tokens) or ("next", "week") in itertools.pairwise(
        t for _, t in tokens
    )


def _claims(sentence: str, tokens: list[tuple[str, str]]) -> list[Claim]:
    if _advice(tokens):
        return []  # advice states what to do, not what happened
    found: list[Claim] = []
    skip: set[int] = set()
    for i, (kind, text) in enumerate(tokens):
        if kind != "num" or i in skip:
            continue
        unit = unit_of(tokens, i)
        of_total = i + 2 < len(tokens) and tokens[i + 1][1] == "of" and tokens[i + 2][0] == "num"
        if unit is None and of_total:
            unit = unit_of(tokens, i + 2)  # "6 of 7 days"
        hedged = any(t in HEDGES for _, t in tokens[max(0, i - 2) : i])
        number = abs(float(text))
        decimals = len(text.split(".")[1]) if "." in text else 0
        written = f"{text} {unit}" if unit else text
        if unit == "h" and decimals == 0 and (j := compound(tokens, i)) is not None:
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
    if phrase and phrase[0] in (">", "~", "^"):
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
        return after == "num" or before in ("num", "pct") or _afterunit_of(tokens, k)
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
    if phrase and phrase[0] == "^" and at != claim.position - 1:
        return False  # names only the figure right after it
    return _matches(phrase, tokens, at)


def _afterunit_of(tokens: list[tuple[str, str]], k: int) -> bool:
    """True when the word before k is the unit of a figure ("290 min and ...")."""
    return k >= 2 and tokens[k - 2][0] == "num"


_DAY_WORDS = frozenset(
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
    | {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
)
_WHEN = frozenset({"on", "during", "by", "until", "through", "from", "to", "till"})


def _when(tokens: list[tuple[str, str]], at: int) -> bool:
    """ "5 hours on Thursday" says when, not that it was Thursday's total."""
    return tokens[at][1] in _DAY_WORDS and at > 0 and tokens[at - 1][1] in _WHEN


def _closeness(
    fact: Fact, tokens: list[tuple[str, str]], claim: Claim, blocked: Collection[int] = ()
) -> tuple[float, bool]:
    """How closely the sentence names `fact` for this claim, and whether a strong word
    does (not only a generic verb like "logged" or the claim's own unit)."""
    best, strong = 0.0, False
    for at in range(len(tokens)):
        if tokens[at][0] == "num" or at == claim.position or at in blocked:
            continue
        if at != claim.position + 1 and unit_of(tokens, at - 1) and tokens[at - 1][0] == "num":
            continue  # the unit of another figure ("32 entries on 6 days") names that one
        for phrase in fact.names:
            if not _names_at(phrase, tokens, at, claim):
                continue
            distance = _distance(claim, at, tokens)
            weak = (
                phrase[0] == "~"
                or (claim.unit is not None and at == claim.position + 1)
                or (tokens[at][1] == "total" and at > 0 and tokens[at - 1][1] == "in")
                or _when(tokens, at)
            )
            score = 1.0 / (1 + distance + (UNIT_DISTANCE if weak else 0))
            if score > best or (score == best and not weak):
                best, strong = score, not weak
    return best, strong


def _blocked(claim: Claim, others: Sequence[Claim], tokens: list[tuple[str, str]]) -> set[int]:
    """Words closer to another figure of the sentence name that one ("35.2 h of work,
    74 % focus": focus names 74 %, not 35.2 h)."""
    rivals = [o for o in others if o.position != claim.position and o.unit is not None]
    return {
        at
        for at in range(len(tokens))
        if tokens[at][0] == "word"
        and any(_distance(o, at, tokens) < _distance(claim, at, tokens) for o in rivals)
    }


def _named(
    claim: Claim,
    candidates: Sequence[Fact],
    tokens: list[tuple[str, str]],
    others: Sequence[Claim] = (),
) -> tuple[list[Fact], bool]:
    """The facts the claim's words name (within NAMED_SHARE of the closest), and whether
    any is named by a strong word."""
    blocked = _blocked(claim, others, tokens)
    scored = [(f, *_closeness(f, tokens, claim, blocked)) for f in candidates]
    top = max((c for _, c, _ in scored), default=0.0)
    if top < MIN_CLOSENESS:
        return [], False
    named = [(f, strong) for f, c, strong in scored if c > NAMED_SHARE * top + 1e-9]
    return [f for f, _ in named], any(strong for _, strong in named)


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
    others: Sequence[Claim] = (),
) -> Verdict | None:
    """The verdict on a claim; None for a bare number that names no fact, or that
    follows a name as its version ("export API 1.3")."""
    kinds = _kinds(claim.unit)
    if claim.unit is None and claim.position > 0 and tokens[claim.position - 1][1] in identifiers:
        return None
    candidates = [f for f in facts if f.kind in kinds]
    named, strong = _named(claim, candidates, tokens, others)
    if not named and claim.unit is None:
        return None
    aggregates = [f for f in candidates if not f.label.startswith(ENTRY_LABELS)]
    if claim.unit is not None and Kind.COUNT in kinds:
        # "7 days" can only be a count of days: the unit narrows an unnamed count.
        counted = [
            f for f in aggregates if any(_matches(p, [("word", claim.unit)], 0) for p in f.names)
        ]
        aggregates = counted or aggregates
        candidates = counted or candidates
    pool = named or candidates
    if named and (not strong or all(f.label.startswith(ENTRY_LABELS) for f in named)):
        # Only generic words ("75 minutes in total", "entries" in a title) name it: they
        # do not narrow the claim down, so it may be any figure of its kind.
        pool = named + aggregates
    if claim.signed:
        pool = pool + [f for f in candidates if CHANGE_LABEL in f.label]
    pool = pool + _sums(named)
    return Verdict(claim, any(agrees(claim, f) for f in pool), tuple(named))


def _mentions(tokens: list[tuple[str, str]], names: set[Phrase]) -> int:
    """How many of the known names (projects, types, tags) the sentence mentions."""
    found = 0
    for phrase in names:
        if any(_matches(phrase, tokens, at) for at in range(len(tokens))):
            found += 1
    return found


def _said(read: Iterable[tuple[str, list[tuple[str, str]]]]) -> frozenset[str]:
    """Every word of the texts and its prefixes of 4 letters or more (names match a
    word's start: "debug" names "debugging")."""
    found: set[str] = set()
    for _, tokens in read:
        for kind, token in tokens:
            if kind == "word":
                found.add(token)
                found.update(token[:n] for n in range(4, len(token)))
                if token.endswith("s"):
                    found.add(token[:-1])
    return frozenset(found)


def _mentioned(fact: Fact, said: frozenset[str]) -> bool:
    return any(all(w in said for w in p if w not in (">", "~", "^")) for p in fact.names)


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

    texts = list(texts)
    read = [(s, tokens_of(s, ids)) for text in texts for s in sentences(text)]
    said = _said(read)
    aggregate = index_facts(facts)
    entries = list(entries)
    # Only the facts whose words the text uses can be named: a year of entries costs
    # no more than the few the text talks about.
    indexed = aggregate + [f for f in entry_facts(entries) if _mentioned(f, said)]
    own = known_names(facts)
    known = own | {words(n) for n in names}
    fact_words = {w for fact in aggregate for p in fact.names for w in p}
    titles = {w for e in entries for w in words(str(getattr(e, "title", "") or ""))}
    identifiers = frozenset((titles | {w for n in known for w in n}) - fact_words)
    check = ClaimCheck()
    for text in texts:
        named, unknown = projects_named(text, known)
        check.projects_named += named
        check.unknown_projects += unknown
    for sentence, tokens in read:
        check.names_mentioned += _mentions(tokens, own)
        found = _claims(sentence, tokens)
        for claim in found:
            if (verdict := _judge(claim, indexed, tokens, identifiers, found)) is not None:
                check.verdicts.append(verdict)
        if not _advice(tokens):  # "start next Monday with a focus block"
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
