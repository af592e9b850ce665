"""The figures of issue 26's table, gathered from whichever sections ran: each with
englog's value, Celery's from the same run where there is one, and the ratio (for
PostgreSQL: to SQLite's figure from the same invocation). Printed last and kept in the
JSON under "summary"; a figure whose section did not run is left out."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(a: Any, b: Any) -> float | None:
    return (
        round(a / b, 2) if isinstance(a, int | float) and isinstance(b, int | float) and b else None
    )


def figures(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []

    def add(figure: str, englog: Any, other: Any = None, note: str = "") -> None:
        if englog is not None:
            rows.append(
                {
                    "figure": figure,
                    "englog": englog,
                    "other": other,
                    "ratio": _ratio(englog, other),
                    "note": note,
                }
            )

    e, c = (
        _get(results, "compare", "median", "englog"),
        _get(results, "compare", "median", "celery"),
    )
    add(
        "throughput, harness submits (tasks/s)",
        _get(e, "throughput", "tasks_per_s"),
        _get(c, "throughput", "tasks_per_s"),
        "vs Celery",
    )
    add(
        "batch (tasks/s)",
        _get(e, "batch", "tasks_per_s"),
        _get(c, "batch", "tasks_per_s"),
        "vs Celery",
    )
    add(
        "round trip p50, each alone (ms)",
        _get(e, "roundtrip", "p50_ms"),
        _get(c, "roundtrip", "p50_ms"),
        "vs Celery",
    )
    p = _get(results, "paired", "median")
    add(
        "round trip p50, side by side (ms)",
        _get(p, "englog", "p50_ms"),
        _get(p, "celery", "p50_ms"),
        "vs Celery",
    )
    cl = _get(results, "client", "median")
    for name, label in (
        ("englog", "englog.client"),
        ("englog_uncoalesced", "no coalescing"),
        ("englog_baseline", "baseline tree"),
        ("englog_plain_http", "plain HTTP"),
    ):
        add(
            f"client pattern, {label} (tasks/s)",
            _get(cl, name, "tasks_per_s"),
            _get(cl, "celery", "tasks_per_s"),
            "vs Celery",
        )
    add(
        "server peak RSS (MB)",
        _get(e, "rss_mb", "server_peak"),
        _get(c, "rss_mb", "server_peak"),
        "vs redis-server",
    )
    pg = results.get("postgres")
    # SQLite measured in the same minutes, where the section did so (older JSONs: the
    # comparison's englog side).
    sq = _get(pg, "sqlite") or e
    add(
        "PostgreSQL throughput (tasks/s)",
        _get(pg, "throughput", "tasks_per_s"),
        _get(sq, "throughput", "tasks_per_s"),
        "vs SQLite",
    )
    add(
        "PostgreSQL batch (tasks/s)",
        _get(pg, "batch", "tasks_per_s"),
        _get(sq, "batch", "tasks_per_s"),
        "vs SQLite",
    )
    add(
        "PostgreSQL round trip p50 (ms)",
        _get(pg, "roundtrip", "p50_ms"),
        _get(sq, "roundtrip", "p50_ms"),
        "vs SQLite",
    )
    add(
        "PostgreSQL round trip p50, async commit (ms)",
        _get(pg, "commit_flush", "synchronous_commit_off", "p50_ms"),
        _get(pg, "commit_flush", "synchronous_commit_on", "p50_ms"),
        "vs default, fresh db",
    )
    b, pb = results.get("backlog"), _get(pg, "backlog")
    add("backlog submission, SQLite (tasks/s)", _get(b, "submit_per_s"))
    add("backlog drain, SQLite (tasks/s)", _get(b, "drain_tasks_per_s"))
    b = _get(pg, "backlog_sqlite") or b  # the one run back to back with PostgreSQL's
    add(
        "backlog submission, PostgreSQL (tasks/s)",
        _get(pb, "submit_per_s"),
        _get(b, "submit_per_s"),
        "vs SQLite",
    )
    add(
        "backlog drain, PostgreSQL (tasks/s)",
        _get(pb, "drain_tasks_per_s"),
        _get(b, "drain_tasks_per_s"),
        "vs SQLite",
    )
    return rows


def print_summary(rows: list[Row]) -> None:
    if not rows:
        return
    print(f"\n{'issue 26 figures':<50}{'englog':>10}{'other':>10}{'ratio':>8}  against")
    for r in rows:
        other = "" if r["other"] is None else r["other"]
        ratio = "" if r["ratio"] is None else r["ratio"]
        print(f"{r['figure']:<50}{r['englog']:>10}{other:>10}{ratio:>8}  {r['note']}")
