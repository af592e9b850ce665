"""Every reliability claim names a test that exists (issue 27).

README.md's "Resilience" bullets and docs/reliability.md's claim table each name the
test that proves them, as `tests/path/test_file.py` or `tests/path/test_file.py::test_name`
(a parametrized id such as `test_x[sqlite]` names `test_x`). A claim naming no test, or a
test renamed or deleted since, fails here: the build breaks instead of leaving a stale
claim."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RELIABILITY = ROOT / "docs" / "reliability.md"

# `tests/chaos/test_outbox.py` or `tests/chaos/test_outbox.py::test_name[param]`
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+)(?:\[[^`\]]*\])?)?`")


@dataclass(frozen=True, slots=True)
class NamedTest:
    path: str
    function: str | None

    def __str__(self) -> str:
        return f"{self.path}::{self.function}" if self.function else self.path


@dataclass(frozen=True, slots=True)
class Claim:
    where: str
    text: str

    @property
    def refs(self) -> list[NamedTest]:
        return named_tests(self.text)


def named_tests(text: str) -> list[NamedTest]:
    """Every test `text` names, in order."""
    return [NamedTest(m.group(1), m.group(2)) for m in NAMED_TEST.finditer(text)]


def section(markdown: str, heading: str) -> str:
    """The text under `heading` (a `## ` line) up to the next `## ` heading."""
    match = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no {heading!r} section"
    return match.group(1)


def resilience_bullets(markdown: str) -> list[Claim]:
    """Each top-level `- **Name**: ...` bullet with its continuation lines."""
    body = section(markdown, "## Resilience")
    claims: list[Claim] = []
    for chunk in re.split(r"^(?=- \*\*)", body, flags=re.M)[1:]:
        lines = chunk.splitlines()
        kept = [lines[0], *_continuation(lines[1:])]
        name = re.match(r"- \*\*(.+?)\*\*", lines[0])
        assert name, lines[0]
        claims.append(Claim(f"README Resilience: {name.group(1)}", "\n".join(kept)))
    return claims


def _continuation(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for line in lines:
        if not line.startswith("  "):  # a blank line or the next paragraph ends it
            break
        kept.append(line)
    return kept


def table_rows(markdown: str) -> list[Claim]:
    """The rows of the `| Claim | Proved by |` table (header and rule skipped)."""
    rows: list[Claim] = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("| Claim |"):
            in_table = True
            continue
        if not in_table or line.startswith("|---"):
            continue
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) >= 2, line
        claim, proof = cells[0], cells[-1]
        rows.append(Claim(f"docs/reliability.md: {claim[:70]}", proof))
    return rows


@cache
def source(path: str) -> str | None:
    file = ROOT / path
    return file.read_text(encoding="utf-8") if file.is_file() else None


def missing(ref: NamedTest) -> str | None:
    """Why `ref` names nothing (None when the file, and the function if named, exist)."""
    text = source(ref.path)
    if text is None:
        return f"{ref.path}: no such file"
    if ref.function is None:
        return None
    if not ref.function.startswith("test_"):
        return f"{ref}: not a test function"
    if not re.search(rf"^\s*(?:async\s+)?def {re.escape(ref.function)}\(", text, re.M):
        return f"{ref}: no such test in {ref.path}"
    return None


def readme_claims() -> list[Claim]:
    return resilience_bullets(README.read_text(encoding="utf-8"))


def reliability_claims() -> list[Claim]:
    return table_rows(RELIABILITY.read_text(encoding="utf-8"))


def test_the_parsers_find_every_claim() -> None:
    """Guard against a parser that silently finds nothing to check."""
    names = [c.where.split(": ", 1)[1] for c in readme_claims()]
    for expected in ("Connection", "Retries", "Outbox", "Leases and fencing", "Observability"):
        assert expected in names, names
    assert len(names) >= 10, names
    assert len(reliability_claims()) >= 20


@pytest.mark.parametrize("claims", [readme_claims, reliability_claims], ids=["readme", "table"])
def test_every_claim_names_a_test(claims: object) -> None:
    bare = [c.where for c in claims() if not c.refs]  # type: ignore[operator]
    assert not bare, "claims that name no test: " + "; ".join(bare)


@pytest.mark.parametrize("claims", [readme_claims, reliability_claims], ids=["readme", "table"])
def test_every_test_a_claim_names_exists(claims: object) -> None:
    stale = [f"{c.where} -> {why}" for c in claims() for r in c.refs if (why := missing(r))]  # type: ignore[operator]
    assert not stale, "claims naming tests that do not exist:\n" + "\n".join(stale)


def test_every_test_the_readme_names_anywhere_exists() -> None:
    """Claims outside the Resilience section (architecture, PostgreSQL, operations)."""
    refs = named_tests(README.read_text(encoding="utf-8"))
    assert len(refs) >= 20
    stale = [why for r in refs if (why := missing(r))]
    assert not stale, "\n".join(stale)


def test_a_parametrized_id_names_its_function_and_a_typo_is_caught() -> None:
    text = "`tests/unit/test_store.py::test_pg_replicas_starting_together_migrate_once[pg]`"
    [ref] = named_tests(text)
    assert ref == NamedTest(
        "tests/unit/test_store.py", "test_pg_replicas_starting_together_migrate_once"
    )
    assert missing(ref) is None
    assert missing(NamedTest("tests/unit/test_store.py", "test_no_such_thing")) is not None
    assert missing(NamedTest("tests/unit/test_gone.py", None)) is not None
    assert missing(NamedTest("tests/unit/test_store.py", "helper")) is not None
