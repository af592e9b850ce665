"""The bench's command line and pure helpers (the bench itself is `make bench`, never
part of the test suite: no timed assertions here)."""

from __future__ import annotations

import pytest

from bench.cli import SECTIONS, parse_args
from bench.harness import median_of, paired_roundtrips, percentile
from bench.summary import figures


def test_defaults_run_every_section_but_profile_with_issue_sizes() -> None:
    args = parse_args([])
    assert args.sections == [s for s in SECTIONS if s != "profile"]
    assert (args.runs, args.tasks, args.rtt_tasks, args.backlog) == (3, 10_000, 1000, 100_000)
    assert args.db == "sqlite"


def test_quick_shrinks_everything() -> None:
    args = parse_args(["--quick", "--sections", "compare,recovery"])
    assert args.sections == ["compare", "recovery"]
    assert args.runs == 1 and args.tasks <= 1000 and args.rtt_tasks <= 100
    assert args.backlog <= 5000


@pytest.mark.parametrize(
    "argv",
    [["--sections", "nope"], ["--sections", ","], ["--runs", "0"], ["--db", "mysql"]],
)
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_median_of_nested_runs() -> None:
    runs = [
        {"throughput": {"tasks_per_s": v, "tasks": 10}, "label": "x"} for v in (300.0, 100.0, 200.0)
    ]
    assert median_of(runs) == {"throughput": {"tasks_per_s": 200.0, "tasks": 10}}


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_paired_round_trips_alternate_and_reverse_the_order() -> None:
    calls: list[tuple[str, int]] = []

    class Fake:
        def __init__(self, name: str, seconds: float) -> None:
            self.name, self.seconds = name, seconds

        def roundtrip(self, i: int, timeout: float = 30.0) -> float:
            calls.append((self.name, i))
            return self.seconds

    out = paired_roundtrips([Fake("a", 0.002), Fake("b", 0.003)], 3, warmup=1)  # type: ignore[list-item]
    assert calls == [
        ("a", -1),
        ("b", -1),
        ("a", 0),
        ("b", 0),
        ("b", 1),
        ("a", 1),
        ("a", 2),
        ("b", 2),
    ]
    assert out["a"]["p50_ms"] == 2.0 and out["b"]["p99_ms"] == 3.0 and out["a"]["tasks"] == 3


def test_the_summary_sets_postgresqls_async_commit_round_trip_beside_its_default() -> None:
    flush = {"synchronous_commit_on": {"p50_ms": 2.5}, "synchronous_commit_off": {"p50_ms": 2.0}}
    rows = {r["figure"]: r for r in figures({"postgres": {"commit_flush": flush}})}
    row = rows["PostgreSQL round trip p50, async commit (ms)"]
    assert (row["englog"], row["other"], row["ratio"]) == (2.0, 2.5, 0.8)
    # A run without the PostgreSQL section has no such figure.
    assert row["figure"] not in {r["figure"] for r in figures({})}


def test_postgresql_is_set_beside_sqlite_measured_in_the_same_minutes() -> None:
    """The PostgreSQL section's own SQLite runs, where it has them; an older JSON's
    PostgreSQL figures still sit beside the comparison's englog side."""
    compare = {"median": {"englog": {"throughput": {"tasks_per_s": 1000.0}}}}
    pg = {"throughput": {"tasks_per_s": 900.0}, "backlog": {"submit_per_s": 80.0}}
    beside = {"throughput": {"tasks_per_s": 1200.0}}
    sqlite_backlog = {"submit_per_s": 200.0}  # the backlog section's

    def row(results: dict[str, object], figure: str) -> tuple[object, object]:
        found = {r["figure"]: r for r in figures(results)}[figure]
        return found["other"], found["ratio"]

    throughput = "PostgreSQL throughput (tasks/s)"
    assert row({"compare": compare, "postgres": pg}, throughput) == (1000.0, 0.9)
    assert row({"compare": compare, "postgres": {**pg, "sqlite": beside}}, throughput) == (
        1200.0,
        0.75,
    )
    submission = "backlog submission, PostgreSQL (tasks/s)"
    older = {"backlog": sqlite_backlog, "postgres": pg}
    assert row(older, submission) == (200.0, 0.4)
    paired = {
        "backlog": sqlite_backlog,
        "postgres": {**pg, "backlog_sqlite": {"submit_per_s": 100.0}},
    }
    assert row(paired, submission) == (100.0, 0.8)
