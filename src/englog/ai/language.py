"""Which language a narrative is written in, from its function words: enough to flag
an answer in German when English was asked, without a language model.

A language is recognised by how many of the text's words are among its most common
function words ("the", "and", "of" ...); a text in a script without such a list
(Cyrillic, CJK, ...) is "other". Short texts (fewer than MIN_WORDS words) are not
judged: a title like "Focus: 62 %" has no language to speak of."""

from __future__ import annotations

import re

DEFAULT_LANGUAGE = "en"
MIN_WORDS = 8
_WORD = re.compile(r"[^\W\d_]+")

FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "of",
            "to",
            "in",
            "on",
            "for",
            "with",
            "was",
            "were",
            "is",
            "are",
            "you",
            "your",
            "it",
            "this",
            "that",
            "at",
            "by",
            "from",
            "as",
            "an",
            "a",
            "be",
            "been",
            "most",
            "more",
            "than",
            "over",
            "into",
            "about",
            "which",
            "while",
            "when",
            "their",
            "out",
            "but",
            "not",
            "each",
            "per",
            "all",
            "so",
            "its",
            "our",
            "we",
            "what",
            "who",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "sind",
            "mit",
            "für",
            "auf",
            "von",
            "zu",
            "im",
            "in",
            "den",
            "dem",
            "des",
            "ein",
            "eine",
            "einer",
            "eines",
            "wurde",
            "wurden",
            "nicht",
            "auch",
            "mehr",
            "als",
            "bei",
            "über",
            "du",
            "dein",
            "deine",
            "ihre",
            "sie",
            "es",
            "war",
            "waren",
            "zeit",
            "woche",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "est",
            "sont",
            "avec",
            "pour",
            "sur",
            "de",
            "du",
            "des",
            "un",
            "une",
            "en",
            "au",
            "aux",
            "dans",
            "par",
            "pas",
            "plus",
            "que",
            "qui",
            "vous",
            "votre",
            "vos",
            "temps",
            "semaine",
            "été",
            "était",
            "ce",
            "cette",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "y",
            "es",
            "son",
            "con",
            "para",
            "por",
            "de",
            "del",
            "un",
            "una",
            "en",
            "al",
            "más",
            "que",
            "se",
            "su",
            "sus",
            "tu",
            "tus",
            "fue",
            "tiempo",
            "semana",
            "este",
            "esta",
            "como",
            "pero",
        ]
    ),
    "it": frozenset(
        [
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "e",
            "è",
            "sono",
            "con",
            "per",
            "su",
            "di",
            "del",
            "della",
            "un",
            "una",
            "in",
            "al",
            "nel",
            "più",
            "che",
            "si",
            "tuo",
            "tua",
            "tempo",
            "settimana",
            "questo",
            "questa",
            "come",
            "ma",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "e",
            "é",
            "são",
            "com",
            "para",
            "por",
            "de",
            "do",
            "da",
            "dos",
            "das",
            "um",
            "uma",
            "em",
            "no",
            "na",
            "mais",
            "que",
            "se",
            "seu",
            "sua",
            "tempo",
            "semana",
            "este",
            "esta",
            "como",
            "mas",
            "foi",
        ]
    ),
    "nl": frozenset(
        [
            "de",
            "het",
            "een",
            "en",
            "is",
            "zijn",
            "met",
            "voor",
            "op",
            "van",
            "te",
            "in",
            "aan",
            "bij",
            "niet",
            "ook",
            "meer",
            "dan",
            "je",
            "jouw",
            "was",
            "waren",
            "tijd",
            "week",
            "deze",
            "dit",
        ]
    ),
}


def _is_latin(word: str) -> bool:
    return all(ord(ch) < 0x250 for ch in word)


def detect(text: str) -> str | None:
    """The language code of `text`, "other" for a script without a word list, None
    when it is too short to tell."""
    found = [w.lower() for w in _WORD.findall(text)]
    if len(found) < MIN_WORDS:
        return None
    latin = [w for w in found if _is_latin(w)]
    if len(latin) < len(found) / 2:
        return "other"
    hits = {lang: sum(w in words for w in latin) for lang, words in FUNCTION_WORDS.items()}
    best = max(hits, key=lambda lang: (hits[lang], lang == DEFAULT_LANGUAGE))
    return best if hits[best] >= 2 else None


def mismatch(texts: list[str], expected: str = DEFAULT_LANGUAGE) -> str | None:
    """Why the texts are not in `expected`, or None when they are (or cannot be told)."""
    joined = " ".join(texts)
    found = detect(joined)
    if found is None or found == expected:
        return None
    words = [w.lower() for w in _WORD.findall(joined) if _is_latin(w)]
    if found != "other" and expected in FUNCTION_WORDS:
        # Names and figures make English look foreign less often than the reverse:
        # flag only a clear lead of the other language.
        own = sum(w in FUNCTION_WORDS[expected] for w in words)
        theirs = sum(w in FUNCTION_WORDS[found] for w in words)
        if theirs < 1.5 * own:
            return None
    return f"the answer is written in {found!r}, not in the requested language {expected!r}"
