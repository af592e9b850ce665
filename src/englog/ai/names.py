"""Projects a text names where a project stands ("the Zephyr project", "Zephyr took
6 h", "6.5 h went to billing-api"), and whether the entries have them. Lenient: a name
sharing its distinctive words with a known project, tag, type or entry title is known,
so only a name the entries never mention counts as invented."""

from __future__ import annotations

import re

from englog.ai.claim_text import word_set
from englog.ai.fact_index import Phrase, words

_PROJECT_NOUNS = r"(?:projects?|repos?|repository|repositories|services?|codebases?|workstreams?)"
# "billing-api", "ledger-svc", "web-v2": a hyphenated name ending like a repository (not
# "follow-up" or "on-call").
_REPO_NAME = (
    r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*-(?:api|svc|service|app|web|db|worker|gateway|core|lib|"
    r"sdk|ui|cli|server|client|backend|frontend|v\d+)\b"
)
_PROJECT = re.compile(
    rf'\b{_PROJECT_NOUNS}\s+["“`]([^"”`]+)["”`]|["“`]([^"”`]+)["”`]\s+{_PROJECT_NOUNS}\b'
    rf"|\b{_PROJECT_NOUNS}\s+([A-Z][\w\-]*)|\b([A-Z][\w\-]*[\w])\s+{_PROJECT_NOUNS}\b"
    rf"|\b(?:the|a|an|on|for|to|in)\s+([a-z][\w\-]*[\w])\s+{_PROJECT_NOUNS}\b"
    r"|\b(?:to|on|for|in)\s+([A-Z][\w\-]+)\s*(?:\(|:|,|-)?\s*(?:about\s+)?\d"
    r"|\d\s*(?:h|hrs?|hours?|min|minutes?|%)\s+(?:\w+\s+)?(?:to|on|for|in|into)\s+([A-Z][\w\-]+)"
    r"|(?<![.!?:]\s)(?<!^)\b([A-Z][a-z]+[\w\-]*)\s+(?:took|spent|got|needed|ate|used)\s+\d"
    # repository-like names beside a figure: "went to zephyr-api (12 h)", "6 h on billing-v2"
    rf"|\b(?:to|on|for|in)\s+({_REPO_NAME})\s*(?:\(|:|,)?\s*(?:about\s+)?\d"
    rf"|\d\s*(?:h|hrs?|hours?|min|minutes?|%)\s+(?:\w+\s+)?(?:to|on|for|in|into)\s+({_REPO_NAME})",
)
# Words many project names share: a name is known when its other words are.
_GENERIC_NAME_WORDS = word_set(
    "api app web service svc backend frontend server client core lib sdk ui data v the "
    "project repo platform infra tool tools"
)
_NOT_NAMES = word_set(
    "the this that each every your a an one any main top same other new biggest largest "
    "whole most its their our my two three four five several both all these those which "
    "his her side pet own key core primary secondary named single two different many"
)
_COMMON_CAPITALISED = word_set(
    "i monday tuesday wednesday thursday friday saturday sunday january february march "
    "april may june july august september october november december"
)


def projects_named(text: str, known: set[Phrase]) -> tuple[int, list[str]]:
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
        distinctive = set(name_words) - _GENERIC_NAME_WORDS or set(name_words)
        if not distinctive <= known_words and not (
            len(name_words) == 1 and set(name_words) & known_words
        ):
            unknown.append(name)
    return named, unknown
