"""englog alone: scaling with workers, a deep backlog, and recovery from a server
restart and from a worker SIGKILL."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import harness
from bench.englog_side import Englog, PlainHttp, TwoRequests
from bench.procs import BenchError, RssSampler, mb, wait_until

PG_BENCH_DB = "englog_bench"


def db_url(args: argparse.Namespace) -> str | None:
    """None means a fresh SQLite file per run; else the PostgreSQL server URL."""
    if args.db == "sqlite":
        return None
    if importlib.util.find_spec("englog.store.postgres") is None:
        raise BenchError("the PostgreSQL backend (englog.store.postgres) does not exist yet")
    url: str = args.pg_url
    return url


def fresh_pg(server_url: str) -> str:
    """Drop and recreate the bench database, so every run starts empty."""
    import asyncpg

    async def recreate() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
        finally:
            await conn.close()

    asyncio.run(recreate())
    return f"{server_url.rsplit('/', 1)[0]}/{PG_BENCH_DB}"


def _englog(tmp: Path, args: argparse.Namespace, **kwargs: Any) -> Englog:
    url = db_url(args)
    kwargs.setdefault("src", args.englog_src)
    if "db_url" in kwargs:  # a database made fresh by the caller
        return Englog(tmp, concurrency=args.concurrency, **kwargs)
    return Englog(tmp, db_url=url and fresh_pg(url), concurrency=args.concurrency, **kwargs)


def one_run(make: Callable[[Path], Any], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
        system: Any = make(Path(tmp))
        try:
            system.start()
            with RssSampler(system.roles()) as rss:
                time.sleep(0.5)
                idle = rss.sample()
                result: dict[str, Any] = {
                    "throughput": harness.throughput(system, args.tasks, args.threads),
                    "batch": harness.throughput(system, args.tasks, args.threads, batch=True),
                    "roundtrip": harness.roundtrips(system, args.rtt_tasks),
                }
            result["rss_mb"] = {
                "server_peak": mb(rss.peaks["server"]),
                "worker_peak": mb(rss.peaks["worker"]),
                "worker_idle": mb(idle["worker"]),
            }
            return result
        finally:
            system.stop()


def paired(args: argparse.Namespace) -> dict[str, Any]:
    """englog and Celery running at the same time, their round trips alternating task
    by task (`harness.paired_roundtrips`); `--runs` fresh pairs, medians reported."""
    from bench.celery_side import CeleryRedis

    runs: list[dict[str, dict[str, float]]] = []
    for i in range(args.runs):
        print(f"  paired round trips, run {i + 1}/{args.runs} ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
            (Path(tmp) / "englog").mkdir()
            (Path(tmp) / "celery").mkdir()
            englog = _englog(Path(tmp) / "englog", args)
            celery = CeleryRedis(Path(tmp) / "celery")
            try:
                englog.start()
                celery.start()
                systems = [englog, TwoRequests(englog), celery]
                runs.append(harness.paired_roundtrips(systems, args.rtt_tasks))
            finally:
                englog.stop()
                celery.stop()
        print(f"    {runs[-1]}", flush=True)
    median = {
        name: {k: round(statistics.median(r[name][k] for r in runs), 2) for k in runs[0][name]}
        for name in runs[0]
    }

    def over_celery(name: str) -> dict[str, float]:
        return {
            f"roundtrip_{k}": round(median[name][k] / median["celery"][k], 2)
            for k in ("p50_ms", "p99_ms")
        }

    return {
        "runs": runs,
        "median": median,
        "englog_over_celery": over_celery("englog"),
        "englog_two_requests_over_celery": over_celery(TwoRequests.name),
    }


def postgres(args: argparse.Namespace) -> dict[str, Any]:
    """englog on PostgreSQL beside englog on SQLite: `--runs` pairs of the comparison's
    englog side, alternated (the order swapped every other pair), medians of each, so
    that both are measured in the same minutes (this machine's speed moves by half from
    one minute to the next). The top-level figures are PostgreSQL's, SQLite's are under
    `sqlite`; the deep backlog likewise, one run of each, back to back. Skipped (not
    failed) when no PostgreSQL answers at --pg-url."""
    if importlib.util.find_spec("englog.store.postgres") is None:
        return {"skipped": "the PostgreSQL backend does not exist yet"}
    try:
        fresh_pg(args.pg_url)
    except Exception as exc:  # refused, auth, missing database: asyncpg has many kinds
        return {"skipped": f"no PostgreSQL at {args.pg_url}: {exc}"}
    runs: list[dict[str, dict[str, Any]]] = []
    for i in range(args.runs):
        run: dict[str, dict[str, Any]] = {}
        for name in ("sqlite", "postgresql") if i % 2 == 0 else ("postgresql", "sqlite"):
            print(f"  englog on {name}, run {i + 1}/{args.runs} ...", flush=True)
            url = fresh_pg(args.pg_url) if name == "postgresql" else None
            run[name] = one_run(lambda t, url=url: _englog(t, args, db_url=url), args)
        runs.append(run)
    out = harness.median_of([r["postgresql"] for r in runs])
    out["sqlite"] = harness.median_of([r["sqlite"] for r in runs])
    out["runs"] = runs
    out["commit_flush"] = commit_flush(args)
    if "backlog" in args.sections:  # the deep backlog on both, back to back
        for db in ("sqlite", "postgresql"):
            print(f"  backlog on {db} ...", flush=True)
            got = backlog(argparse.Namespace(**{**vars(args), "db": db}))
            out["backlog" if db == "postgresql" else "backlog_sqlite"] = got
    return out


def commit_flush(args: argparse.Namespace) -> dict[str, Any]:
    """What the commits' WAL flushes cost a round trip: round trips on a fresh database
    with PostgreSQL's default `synchronous_commit=on`, then with `off` (passed in the
    URL, as an operator would opt in: a crash of PostgreSQL then loses the last
    fraction of a second of commits, so englog never defaults to it), alternated."""
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for setting in ("on", "off", "on", "off"):
        print(f"  round trips on PostgreSQL, synchronous_commit={setting} ...", flush=True)
        url = f"{fresh_pg(args.pg_url)}?synchronous_commit={setting}"
        with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
            system = _englog(Path(tmp), args, db_url=url)
            try:
                system.start()
                runs[setting].append(harness.roundtrips(system, args.rtt_tasks))
            finally:
                system.stop()
    median = {
        setting: {k: round(statistics.median(r[k] for r in got), 2) for k in got[0]}
        for setting, got in runs.items()
    }
    return {
        "runs": runs,
        "synchronous_commit_on": median["on"],
        "synchronous_commit_off": median["off"],
    }


def scaling(args: argparse.Namespace) -> dict[str, Any]:
    """The same no-op load with 1, 2 and 4 workers (one run each), submitted through the
    batch route so that submission does not cap what the workers can show."""
    out: dict[str, Any] = {}
    for workers in (1, 2, 4):
        print(f"  {workers} worker(s) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
            system = _englog(Path(tmp), args)
            try:
                system.start(workers)
                with RssSampler(system.roles()) as rss:
                    batch = harness.throughput(system, args.tasks, args.threads, batch=True)
                out[f"workers_{workers}"] = {
                    "batch": batch,
                    "server_peak_rss_mb": mb(rss.peaks["server"]),
                    "workers_peak_rss_mb": mb(rss.peaks["worker"]),
                }
            finally:
                system.stop()
        print(f"    {out[f'workers_{workers}']}", flush=True)
    return out


def backlog(args: argparse.Namespace) -> dict[str, Any]:
    """Queue `--backlog` tasks with no worker, then start one and time each tenth of the
    drain: a flat rate means the cost per dispatch does not grow with the queue."""
    n = args.backlog
    with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
        system = _englog(Path(tmp), args)
        try:
            system.start_server()
            with RssSampler(system.roles()) as rss:
                started = time.perf_counter()
                harness.throughput_submit_only(system, n, args.threads)
                queued_s = time.perf_counter() - started
                time.sleep(0.5)
                queued_rss = rss.sample()["server"]
                worker = system.start_worker("w1")
                rss.roles["worker"] = [worker.pid]
                system.wait_connected("w1")
                marks = [max(1, n * k // 10) for k in range(1, 11)]
                times: list[float] = []
                t0 = time.perf_counter()
                deadline = t0 + 3600
                for mark in marks:
                    while system.completed() < mark:
                        if time.perf_counter() > deadline:
                            raise BenchError("backlog did not drain within an hour")
                        time.sleep(harness.POLL_S)
                    times.append(time.perf_counter() - t0)
            if not system.stored_completed_at_least(n):
                raise BenchError("backlog: the store holds fewer completed tasks than submitted")
        finally:
            system.stop()
    per_tenth = [
        round((marks[i] - (marks[i - 1] if i else 0)) / (times[i] - (times[i - 1] if i else 0)), 1)
        for i in range(10)
    ]
    return {
        "tasks": n,
        "submit_per_s": round(n / queued_s, 1),
        "server_rss_mb_with_backlog": mb(queued_rss),
        "server_peak_rss_mb": mb(rss.peaks["server"]),
        "worker_peak_rss_mb": mb(rss.peaks["worker"]),
        "drain_seconds": round(times[-1], 2),
        "drain_tasks_per_s": round(n / times[-1], 1),
        "tasks_per_s_by_tenth": per_tenth,
        "last_over_first_tenth": round(per_tenth[-1] / per_tenth[0], 2),
    }


def _server_restart(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
        system = _englog(Path(tmp), args)
        try:
            system.start(1)
            system.roundtrip(0)
            assert system.server is not None
            system.server.stop()
            t0 = time.perf_counter()
            system.start_server()
            ready = time.perf_counter() - t0
            system.roundtrip(1, timeout=120)
            first = time.perf_counter() - t0
        finally:
            system.stop()
    return {"to_ready_s": round(ready, 2), "to_first_task_s": round(first, 2)}


def _worker_kill(args: argparse.Namespace, lease_ttl: float, heartbeat: float) -> dict[str, float]:
    """Four long tasks running on w1; SIGKILL w1; time until all four run on w2."""
    slots = 4
    with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
        system = _englog(Path(tmp), args, lease_ttl=lease_ttl, heartbeat=heartbeat)
        system.concurrency = slots
        try:
            system.start(1)
            api = system.api()
            ids = [api.submit("sleep", {"seconds": 300}, timeout_s=600).id for _ in range(slots)]

            def on(worker_id: str) -> bool:
                tasks = [system.task(t) for t in ids]
                return all(t["status"] == "running" and t["worker_id"] == worker_id for t in tasks)

            wait_until(lambda: on("w1"), 30, "tasks running on w1", interval=0.05)
            system.start_worker("w2")
            system.wait_connected("w2")
            t0 = time.perf_counter()
            system.workers["w1"].kill()
            wait_until(lambda: on("w2"), 300, "tasks running on w2", interval=0.05)
            moved = time.perf_counter() - t0
        finally:
            system.stop()
    return {
        "lease_ttl_s": lease_ttl,
        "heartbeat_s": heartbeat,
        "to_running_elsewhere_s": round(moved, 2),
    }


def recovery(args: argparse.Namespace) -> dict[str, Any]:
    print("  server restart ...", flush=True)
    out: dict[str, Any] = {"server_restart": _server_restart(args)}
    print("  worker SIGKILL, short leases ...", flush=True)
    out["worker_kill_short"] = _worker_kill(args, lease_ttl=2.0, heartbeat=0.5)
    print("  worker SIGKILL, default leases ...", flush=True)
    out["worker_kill_default"] = _worker_kill(args, lease_ttl=30.0, heartbeat=5.0)
    return out


PROFILE_DIR = Path(__file__).resolve().parent / "results" / "profiles"


def profile(args: argparse.Namespace) -> dict[str, Any]:
    """One single-submit and one batch throughput run with the server and the worker
    under pyinstrument (main thread: the event loop, where HTTP, gRPC and dispatch run;
    the SQLite writer thread's fsyncs show only as awaits)."""
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
        system = _englog(Path(tmp), args, profile_dir=PROFILE_DIR)
        try:
            system.start(1)
            single = harness.throughput(system, args.tasks, args.threads)
            batch = harness.throughput(system, args.tasks, args.threads, batch=True)
        finally:
            system.stop(timeout=60)
    reports = sorted(str(p) for p in PROFILE_DIR.glob("*.txt"))
    return {"throughput": single, "batch": batch, "reports": reports}


def client_pattern(args: argparse.Namespace) -> dict[str, Any]:
    """Issue 13's client pattern, englog beside Celery in one section: submit
    --client-tasks no-ops from --client-threads threads, then collect every result. Each
    run starts both systems afresh (one worker each) and measures them in turn, the
    order swapped on every other run; medians and their ratio are reported."""
    from bench.celery_side import CeleryRedis
    from englog.client import CoalescePolicy
    from englog.client.sync import DEFAULT_COALESCE

    linger = DEFAULT_COALESCE
    if args.client_linger_ms is not None:
        linger = CoalescePolicy(linger_s=args.client_linger_ms / 1000)
    makers: dict[str, Callable[[Path], Any]] = {
        "englog": lambda t: _englog(t, args, coalesce=linger),
        "englog_uncoalesced": lambda t: _englog(t, args, coalesce=None),
        "englog_plain_http": lambda t: PlainHttp(_englog(t, args), args.client_threads),
        "celery": CeleryRedis,
    }
    if args.baseline_src is not None:  # before/after in the same run
        makers["englog_baseline"] = lambda t: _englog(t, args, coalesce=None, src=args.baseline_src)
    runs: list[dict[str, dict[str, float]]] = []
    for i in range(args.runs):
        order = list(makers) if i % 2 == 0 else list(reversed(makers))
        run: dict[str, dict[str, float]] = {}
        for name in order:
            print(f"  client pattern run {i + 1}/{args.runs}: {name} ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="englog-bench-") as tmp:
                system = makers[name](Path(tmp))
                try:
                    system.start()
                    run[name] = harness.submit_then_collect(
                        system, args.client_tasks, args.client_threads
                    )
                finally:
                    system.stop()
            print(f"    {run[name]}", flush=True)
        runs.append(run)
    median = {
        name: {k: round(statistics.median(r[name][k] for r in runs), 2) for k in runs[0][name]}
        for name in makers
    }
    celery = median["celery"]["tasks_per_s"]
    ratio = round(median["englog"]["tasks_per_s"] / celery, 2)
    alone = round(median["englog_uncoalesced"]["tasks_per_s"] / celery, 2)
    plain = round(median["englog_plain_http"]["tasks_per_s"] / celery, 2)
    over = {
        "tasks_per_s": ratio,
        "uncoalesced_tasks_per_s": alone,
        "plain_http_tasks_per_s": plain,
    }
    if "englog_baseline" in median:
        over["baseline_tasks_per_s"] = round(median["englog_baseline"]["tasks_per_s"] / celery, 2)
    return {
        "runs": runs,
        "median": median,
        "englog_over_celery": over,
        "coalesce_linger_ms": linger.linger_s * 1000,
    }
