"""How a narrative's text is read before its claims are judged (`englog.ai.claims`):
split into sentences, identifiers, dates and clock times removed ("PR #412", "v2.14",
"09:00", "Nov 12"), compound and glued durations normalised ("7h15" is "7 h 15 min"),
number words before counts turned into digits ("ten meetings"), then tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable


def word_set(text: str) -> frozenset[str]:
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
    re.compile(r"\b(?:week|wk|cw)\s*#?\d{1,2}\b|\bW\d{1,2}\b", re.I),  # week 46, W46
    re.compile(r"\b(?:19|20)\d{2}\b(?!\s*(?:min|minutes|h\b|hours|entries|%))"),  # years
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
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
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
_COUNTS = word_set(
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
HEDGES = word_set(
    "about around roughly approximately approx nearly almost some circa over under ~ close"
)
ADVICE = word_set(
    "aim target goal try consider reserve schedule should could would recommend suggest "
    "limit cap aiming targeting"
)


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
    text = text.replace("~", " about ").replace("≈", " about ")
    return _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()] + " ", text)


def tokens_of(sentence: str, ids: Iterable[str] = ()) -> list[tuple[str, str]]:
    prepared = _prepare(sentence, ids).lower()
    return [(m.lastgroup or "", m.group(0)) for m in _TOKEN.finditer(prepared)]


def unit_of(tokens: list[tuple[str, str]], i: int) -> str | None:
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


def compound(tokens: list[tuple[str, str]], i: int) -> int | None:
    """Index of the minutes of "7 h 15 min" / "1 hour and 30 minutes" after hours at i."""
    j = i + 2
    if j < len(tokens) and tokens[j][1] == "and":
        j += 1
    if j < len(tokens) and tokens[j][0] == "num" and unit_of(tokens, j) == "min":
        return j
    return None


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]
