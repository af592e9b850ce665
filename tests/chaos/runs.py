"""What every chaos test does around its faults: submit many tasks, wait until each is
terminal, tally what the server accepted (across its restarts) and check the promise
of the product: no task lost, none stuck, each result accepted exactly once."""

from __future__ import annotations

import random
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from englog.client import Client, RetryPolicy
from tests.support.procs import (
    ADMIN_TOKEN,
    WORKER_TOKEN,
    Cluster,
    Proc,
    base_env,
    englog_cmd,
    log_events,
    metric_value,
    wait_for,
)
from tests.support.proxy import ThreadedProxy

TERMINAL = frozenset({"completed", "failed", "cancelled"})
DISPOSITIONS = ("accepted", "duplicate", "stale", "unknown_task")
RESULTS_METRIC = "englog_task_results_total"


def submit_many(
    api: httpx.Client,
    n: int,
    type_: str = "sleep",
    payload: dict[str, Any] | None = None,
    **fields: Any,
) -> list[str]:
    """Submit `n` tasks of one type with the admin token; returns their ids in order."""
    ids = []
    for i in range(n):
        body = {"type": type_, "payload": {**(payload or {}), "n": i}, **fields}
        r = api.post("/v1/tasks", json=body)
        assert r.status_code == 202, r.text
        ids.append(r.json()["task_id"])
    return ids


ECHO_HANDLERS = ("--handlers", "tests.support.handlers")  # workers that know `echo`


def submit_echo(
    api: httpx.Client, n: int, seconds: float = 0.0, **fields: Any
) -> dict[str, dict[str, Any]]:
    """Submit `n` echo tasks, each payload unique (a nonce); returns task id -> the
    result that task, and only that task, must end with."""
    expected: dict[str, dict[str, Any]] = {}
    for i in range(n):
        payload = {"n": i, "nonce": secrets.token_hex(8), "seconds": seconds}
        r = api.post("/v1/tasks", json={"type": "echo", "payload": payload, **fields})
        assert r.status_code == 202, r.text
        expected[r.json()["task_id"]] = {"echo": payload}
    return expected


def read_json(api: httpx.Client, url: str, **params: Any) -> Any:
    """A read the test itself makes; a 503 (the store failing under a fault being
    injected) is read again, bounded, as any client would."""

    def answer() -> httpx.Response | None:
        r = api.get(url, params=params)
        if r.status_code in (502, 503, 504):
            return None
        assert r.status_code == 200, f"GET {url}: {r.status_code} {r.text[:300]}"
        return r

    return wait_for(answer, 30, interval=0.2, what=f"GET {url} answered").json()


def task_details(api: httpx.Client, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each task as `GET /v1/tasks/{id}` shows it: with its stored attempts."""
    return {i: read_json(api, f"/v1/tasks/{i}") for i in ids}


def exactly_once_per_task(
    details: dict[str, dict[str, Any]], expected: dict[str, Any] | None = None
) -> list[str]:
    """What breaks the promise, task by task (empty when kept): a completed task has
    exactly one accepted (completed) attempt, its last; its result is its own."""
    problems: list[str] = []
    for task_id, task in details.items():
        accepted = [a["attempt"] for a in task["attempts"] if a["outcome"] == "completed"]
        if task["status"] == "completed" and accepted != [task["attempt"]]:
            problems.append(f"{task_id}: completed attempts {accepted}, last {task['attempt']}")
        if task["status"] != "completed" and accepted:
            problems.append(f"{task_id}: {task['status']} with completed attempts {accepted}")
        completed = task["status"] == "completed"
        if expected is not None and completed and task["result"] != expected[task_id]:
            problems.append(f"{task_id}: result {task['result']} != {expected[task_id]}")
    return problems


def all_tasks(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every task the admin can see, by id (pages of 1000)."""
    found: dict[str, dict[str, Any]] = {}
    for offset in range(0, 100_000, 1000):
        page = read_json(api, "/v1/tasks", limit=1000, offset=offset)["tasks"]
        found.update((t["task_id"], t) for t in page)
        if len(page) < 1000:
            break
    return found


def status_counts(tasks: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(t["status"] for t in tasks)


def wait_all_terminal(
    api: httpx.Client, ids: list[str], timeout: float, interval: float = 0.25
) -> dict[str, dict[str, Any]]:
    """Wait until every task in `ids` is terminal; the failure says where they stand."""
    last: dict[str, dict[str, Any]] = {}

    def done() -> bool:
        nonlocal last
        found = all_tasks(api)
        last = {i: found[i] for i in ids if i in found}
        return len(last) == len(ids) and all(t["status"] in TERMINAL for t in last.values())

    try:
        wait_for(done, timeout, interval=interval, what=f"{len(ids)} tasks terminal")
    except TimeoutError as exc:
        stuck = [t for t in last.values() if t["status"] not in TERMINAL][:5]
        raise AssertionError(
            f"not every task finished within {timeout}s: {dict(status_counts(last.values()))}, "
            f"missing={len(ids) - len(last)}; first unfinished: {stuck}"
        ) from exc
    return task_details(api, ids)


def wait_completed_count(api: httpx.Client, ids: list[str], at_least: int, timeout: float) -> None:
    wanted = set(ids)

    def enough() -> bool:
        tasks = all_tasks(api)
        return sum(tasks[i]["status"] == "completed" for i in wanted if i in tasks) >= at_least

    wait_for(enough, timeout, interval=0.1, what=f"{at_least} tasks completed")


def wait_all_in(api: httpx.Client, ids: list[str], status: str, timeout: float = 20.0) -> None:
    def all_there() -> bool:
        return all(api.get(f"/v1/tasks/{i}").json()["status"] == status for i in ids)

    wait_for(all_there, timeout, interval=0.05, what=f"{len(ids)} tasks {status}")


@dataclass
class ResultLedger:
    """Server result counters summed over its lives (its metrics restart with it):
    `scrape()` before each kill, once the counters have settled, and at the end."""

    totals: Counter[str] = field(default_factory=Counter)

    def scrape(self, api: httpx.Client, settle: float = 5.0) -> None:
        """Take the counters once two reads in a row agree (reports in flight land)."""
        previous: dict[str, float] = {}

        def settled() -> dict[str, float] | None:
            nonlocal previous
            now = read_results(api)
            same = now == previous
            previous = now
            return now if same else None

        try:
            values = wait_for(settled, settle, interval=0.2, what="result counters settle")
        except TimeoutError:
            values = previous
        self.totals.update(values)


def read_results(api: httpx.Client) -> dict[str, float]:
    text = api.get("/metrics").text
    values = {d: metric_value(text, RESULTS_METRIC, disposition=d) for d in DISPOSITIONS}
    values["accepted_completed"] = metric_value(
        text, RESULTS_METRIC, disposition="accepted", outcome="completed"
    )
    return values


def registrations(workers: Iterable[Proc]) -> int:
    """Worker (re)registrations seen in the worker logs: first connects plus reconnects."""
    return sum(len(log_events(w, "registered")) for w in workers)


@dataclass
class RunTotals:
    name: str
    tasks: dict[str, dict[str, Any]]
    ledger: ResultLedger
    registrations: int
    started: float
    extra: dict[str, Any] = field(default_factory=dict)
    # Task id -> the result it must end with (echo tasks); checked task by task.
    expected: dict[str, Any] | None = None
    # The server was SIGKILLed between the ledger's scrapes: what the dead process
    # accepted after the last scrape died with its counters (and comes back, from an
    # outbox, as a duplicate), so the counters only bound the verdict; the stored
    # attempts decide it.
    server_killed: bool = False

    def line(self) -> str:
        counts = status_counts(self.tasks.values())
        t = self.ledger.totals
        parts = [
            f"tasks={len(self.tasks)}",
            f"completed={counts['completed']}",
            f"failed={counts['failed']}",
            f"cancelled={counts['cancelled']}",
            f"accepted={int(t['accepted'])}",
            f"duplicate={int(t['duplicate'])}",
            f"stale={int(t['stale'])}",
            f"unknown={int(t['unknown_task'])}",
            f"registrations={self.registrations}",
            f"retried={sum(task['attempt'] > 1 for task in self.tasks.values())}",
            f"wall={time.monotonic() - self.started:.1f}s",
            *(f"{k}={v}" for k, v in self.extra.items()),
        ]
        return f"[chaos] {self.name}: " + " ".join(parts)

    def assert_nothing_lost(self, expect_all_completed: bool = True) -> None:
        """Every task terminal (completed when expected), and exactly one accepted
        completed result per completed task: none lost, none counted twice. Checked
        task by task on the stored attempts (and each result against its own task's
        payload when `expected` is given), then against the server's counters."""
        counts = status_counts(self.tasks.values())
        assert set(counts) <= TERMINAL, f"tasks not terminal: {counts}"
        if expect_all_completed:
            bad = [t for t in self.tasks.values() if t["status"] != "completed"][:5]
            assert not bad, f"{self.line()}\nnot completed: {bad}"
        problems = exactly_once_per_task(self.tasks, self.expected)
        assert not problems, f"{self.line()}\n" + "\n".join(problems[:10])
        accepted = self.ledger.totals["accepted_completed"]
        if self.server_killed:
            assert accepted <= counts["completed"], f"{self.line()}\na result accepted twice"
        else:
            assert accepted == counts["completed"], (
                f"{self.line()}\naccepted completed results ({accepted:g}) != completed "
                f"tasks ({counts['completed']}): a result was lost or accepted twice"
            )
        no_result = [
            t for t in self.tasks.values() if t["status"] == "completed" and not t["worker_id"]
        ][:5]
        assert not no_result, f"completed without a worker: {no_result}"


def outbox_rows(path: Path) -> int:
    """Rows the worker's SQLite outbox still holds, whatever its schema: the sum over
    its tables except bookkeeping ones (schema versions, settings)."""
    if not path.exists():
        return 0
    con = sqlite3.connect(path, timeout=2)
    try:
        tables = [
            name
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
            and not any(w in name.lower() for w in ("version", "migration", "meta", "setting"))
        ]
        return sum(int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables)
    finally:
        con.close()


def start_worker(
    cluster: Cluster,
    worker_id: str,
    *extra: str,
    server: str | None = None,
    concurrency: int = 4,
) -> Proc:
    """Like `Cluster.start_worker`, but able to dial another address (the proxy)."""
    args = englog_cmd(
        "worker",
        "--server",
        server or f"127.0.0.1:{cluster.grpc_port}",
        "--worker-id",
        worker_id,
        "--concurrency",
        str(concurrency),
        *extra,
    )
    env = base_env(ENGLOG_WORKER_TOKEN=WORKER_TOKEN)
    proc = Proc(args, env, cluster.tmp / f"worker-{worker_id}.log")
    cluster.workers[worker_id] = proc.start()
    return proc


def start_workers_behind(
    c: Cluster, proxy: ThreadedProxy, tmp: Path, ids: Iterable[str] = ("w1", "w2")
) -> list[Proc]:
    """Workers with their own outboxes, dialling the server through the proxy."""
    workers = [
        start_worker(
            c,
            wid,
            "--outbox",
            str(tmp / f"{wid}.outbox"),
            *ECHO_HANDLERS,
            server=proxy.target,
            concurrency=8,
        )
        for wid in ids
    ]
    c.wait_workers_connected(*ids)
    return workers


MAX_TASKS = 5000  # a bound; a run stops its submitter long before
# While the server is down the submitter keeps resending (its key makes that safe).
PATIENT = RetryPolicy(attempts=200, initial_s=0.05, max_s=0.5, total_s=60.0)


class Submitter(threading.Thread):
    """Submits echo tasks through the client library at a jittered pace until told to
    stop; remembers what each task must answer. A submission the client library gave
    up on fails the test (`finish`)."""

    def __init__(self, url: str, rng: random.Random) -> None:
        super().__init__(name="submitter", daemon=True)
        self.url = url
        self.rng = rng
        self.expected: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Client(self.url, ADMIN_TOKEN, timeout=10, retry=PATIENT) as client:
                for n in range(MAX_TASKS):
                    if self.stop.is_set():
                        return
                    payload = {
                        "n": n,
                        "nonce": secrets.token_hex(8),
                        "seconds": round(self.rng.uniform(0, 0.3), 3),
                    }
                    handle = client.submit("echo", payload, max_attempts=10)
                    self.expected[handle.id] = {"echo": payload}
                    # A jittered pace (~70 tasks/s) keeps tasks arriving across every kill.
                    self.stop.wait(self.rng.uniform(0, 0.025))
        except BaseException as exc:  # reported by the test thread
            self.error = exc

    def finish(self, within: float = 90.0) -> dict[str, dict[str, Any]]:
        """Stop, and return task id -> expected result of every acknowledged task."""
        self.stop.set()
        self.join(within)
        assert not self.is_alive(), "the submitter did not stop"
        assert self.error is None, f"a submission was lost: {self.error!r}"
        return self.expected
