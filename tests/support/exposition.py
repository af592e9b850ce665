"""Metric names in Prometheus' text exposition and in PromQL, so tests can check that
every metric a dashboard or an alert names is one englog exports."""

from __future__ import annotations

import re

# Names in a PromQL expression: identifiers not followed by "(" (functions) and not
# label names inside {...} or by/on/without (...) lists.
_NAME = re.compile(r"\b(englog_[a-zA-Z0-9_]+)\b")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def exported_names(text: str) -> set[str]:
    """Every series name `text` (a /metrics body) can produce: each `# TYPE` family with
    its type's suffixes (so a labelled family with no sample yet still counts), and
    each sample's own name."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            names.add(family)
            names.update(family + suffix for suffix in _SUFFIXES.get(kind.strip(), ()))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def promql_names(expr: str) -> set[str]:
    """The englog_* metric names a PromQL expression reads."""
    return set(_NAME.findall(expr))
