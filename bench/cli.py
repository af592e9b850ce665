"""`python -m bench`: englog against Celery + Redis, side by side, then englog alone for
scaling, a deep backlog and recovery. Prints a table and writes JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from bench import harness, scenarios, summary
from bench.procs import REPO, BenchError

SECTIONS = (
    "compare",
    "paired",
    "client",
    "postgres",
    "scaling",
    "backlog",
    "recovery",
    "profile",
)
DEFAULT_OUT = REPO / "bench" / "results" / "latest.json"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="few tasks and one run, for development")
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS[:-1]),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all but profile)",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per comparison (median reported)")
    p.add_argument("--tasks", type=int, default=10_000, help="no-op tasks per throughput run")
    p.add_argument("--rtt-tasks", type=int, default=1000, help="sequential round trips per run")
    p.add_argument("--backlog", type=int, default=100_000, help="tasks queued before any worker")
    p.add_argument("--threads", type=int, default=16, help="harness submission threads")
    p.add_argument(
        "--client-tasks",
        type=int,
        default=4000,
        help="tasks of the client pattern (section client)",
    )
    p.add_argument("--client-threads", type=int, default=8, help="its submitting threads")
    p.add_argument(
        "--client-linger-ms",
        type=float,
        default=None,
        help="the client's coalescing linger (section client, which also runs englog"
        " without coalescing); default: the client's own default",
    )
    p.add_argument("--concurrency", type=int, default=32, help="englog worker concurrency")
    p.add_argument(
        "--englog-src",
        type=Path,
        default=None,
        help="run englog's server and workers from this `src` directory (another checkout)",
    )
    p.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="section client: also run englog from this `src` (before/after, same run)",
    )
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="for --db postgresql",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = p.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or not chosen:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    args.sections = chosen
    for name in (
        "runs", "tasks", "rtt_tasks", "backlog", "threads", "concurrency", "client_tasks",
        "client_threads",
    ):  # fmt: skip
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.quick:
        args.runs, args.tasks = 1, min(args.tasks, 1000)
        args.rtt_tasks, args.backlog = min(args.rtt_tasks, 100), min(args.backlog, 5000)
        args.client_tasks = min(args.client_tasks, 1000)
    return args


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


RATIOS = {
    "throughput_tasks_per_s": ("throughput", "tasks_per_s"),
    "batch_tasks_per_s": ("batch", "tasks_per_s"),
    "roundtrip_p50_ms": ("roundtrip", "p50_ms"),
    "roundtrip_p99_ms": ("roundtrip", "p99_ms"),
    "server_peak_rss_mb": ("rss_mb", "server_peak"),
    "worker_peak_rss_mb": ("rss_mb", "worker_peak"),
}


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """englog and Celery runs interleaved, so background noise hits both alike."""
    from bench.celery_side import CeleryRedis
    from bench.englog_side import Englog

    db = scenarios.db_url(args)
    runs: dict[str, list[dict[str, Any]]] = {"englog": [], "celery": []}
    for i in range(args.runs):
        for name in runs:
            if name == "englog":
                make: Callable[[Path], Any] = lambda t: Englog(  # noqa: E731
                    t,
                    db_url=db and scenarios.fresh_pg(db),
                    concurrency=args.concurrency,
                    src=args.englog_src,
                )
            else:
                make = CeleryRedis
            print(f"  compare run {i + 1}/{args.runs}: {name} ...", flush=True)
            runs[name].append(scenarios.one_run(make, args))
            print(f"    {json.dumps(runs[name][-1])}", flush=True)
    median = {name: harness.median_of(r) for name, r in runs.items()}
    ratio = {
        key: round(median["englog"][a][b] / median["celery"][a][b], 2)
        for key, (a, b) in RATIOS.items()
        if median["celery"][a][b]
    }
    return {"runs": runs, "median": median, "englog_over_celery": ratio}


def print_table(results: dict[str, Any]) -> None:
    cmp = results.get("compare")
    if cmp and "median" in cmp:
        e, c, r = cmp["median"]["englog"], cmp["median"]["celery"], cmp["englog_over_celery"]
        print(f"\n{'metric (median)':<28}{'englog':>12}{'celery':>12}{'englog/celery':>15}")
        for key, (a, b) in RATIOS.items():
            print(f"{key:<28}{e[a][b]:>12}{c[a][b]:>12}{r.get(key, '-'):>15}")
        print(f"{'worker_idle_rss_mb':<28}{e['rss_mb']['worker_idle']:>12}"
              f"{c['rss_mb']['worker_idle']:>12}")  # fmt: skip
    pairs = results.get("paired")
    if pairs and "median" in pairs:
        c = pairs["median"]["celery"]

        def rows(name: str) -> None:
            e, ratios = pairs["median"][name], pairs[f"{name}_over_celery"]
            for key in ("p50_ms", "p99_ms"):
                print(f"{'roundtrip_' + key:<28}{e[key]:>12}{c[key]:>12}"
                      f"{ratios['roundtrip_' + key]:>15}")  # fmt: skip

        print("\nround trips side by side, alternating (median of runs)")
        rows("englog")
        if "englog_two_requests" in pairs["median"]:
            print("  englog submit, then long poll (two requests):")
            rows("englog_two_requests")
    client = results.get("client")
    if client and "median" in client:
        e, c = client["median"]["englog"], client["median"]["celery"]
        print(f"\nclient pattern: submit {e['tasks']:g} from threads, then collect every result")
        print(f"{'tasks_per_s':<28}{e['tasks_per_s']:>12}{c['tasks_per_s']:>12}"
              f"{client['englog_over_celery']['tasks_per_s']:>15}")  # fmt: skip
        for name, label in (
            ("uncoalesced", "without coalescing"),
            ("plain_http", "plain HTTP"),
            ("baseline", "baseline (--baseline-src)"),
        ):
            if f"englog_{name}" in client["median"]:
                u = client["median"][f"englog_{name}"]
                print(f"{'  ' + label:<28}{u['tasks_per_s']:>12}{c['tasks_per_s']:>12}"
                      f"{client['englog_over_celery'][name + '_tasks_per_s']:>15}")  # fmt: skip
    for section in ("postgres", "scaling", "backlog", "recovery", "profile"):
        if section in results:
            print(f"\n{section}: {json.dumps(results[section], indent=1)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {
        "machine": machine(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    runners: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "compare": compare,
        "paired": scenarios.paired,
        "client": scenarios.client_pattern,
        "postgres": scenarios.postgres,
        "scaling": scenarios.scaling,
        "backlog": scenarios.backlog,
        "recovery": scenarios.recovery,
        "profile": scenarios.profile,
    }
    failed = []
    try:
        for section in args.sections:
            print(f"== {section}", flush=True)
            started = time.monotonic()
            try:
                results[section] = runners[section](args)
            except BenchError as exc:  # one broken section must not lose the others
                print(f"{section} failed: {exc}", file=sys.stderr, flush=True)
                results[section] = {"error": str(exc)}
                failed.append(section)
            results[section]["section_seconds"] = round(time.monotonic() - started, 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    results["summary"] = summary.figures(results)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    summary.print_summary(results["summary"])
    print(f"\nresults written to {args.out}")
    if failed:
        print(f"failed sections: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
