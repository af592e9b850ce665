"""englog under test: a real server (SQLite by default) and real worker processes, driven
over its REST API exactly as a user would."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.procs import BenchError, Service, clean_env, free_port, python, wait_until
from englog.client import Client as EnglogClient
from englog.client import ClientError, CoalescePolicy, TaskHandle
from englog.client.sync import DEFAULT_COALESCE

WORKER_TOKEN = "bench-worker-token"
ADMIN_TOKEN = "bench-admin-token"
BATCH = 1000
# Loopback only: plaintext gRPC must be asked for (the variable, not the flag, so older
# builds without the flag run too).
PLAINTEXT = {"ENGLOG_INSECURE": "true"}
# No closing brace: newer servers add a `type` label after these two (summed over).
COMPLETED_METRIC = 'englog_task_results_total{disposition="accepted",outcome="completed"'
ACKED_METRIC = 'englog_worker_results_acknowledged_total{disposition="accepted"}'


def _phases(task: dict[str, Any]) -> tuple[float, float]:
    """Seconds from submission to lease, and from lease to the accepted result."""
    created, started, done = (
        datetime.fromisoformat(task[k]).timestamp()
        for k in ("created_at", "started_at", "completed_at")
    )
    return started - created, done - started


class LeanClient:
    """One keep-alive HTTP/1.1 connection on the standard library's http.client, for the
    timed requests: the thin client an SDK would be. httpx costs about 0.8 ms of CPU
    per request, several times the server's own cost of a submission, and on two
    shared cores the harness's CPU is taken from the system under test."""

    # Reconnect rather than reuse a connection idle this long (uvicorn closes at 5 s).
    IDLE_S = 2.0

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request; a reused connection the server has closed meanwhile (idle, or
        the server restarted) is replaced once, as httpx and urllib3 do."""
        data = None if body is None else json.dumps(body).encode()
        headers = self.headers if headers is None else {**self.headers, **headers}
        fresh = self.conn is None or time.monotonic() - self.used > self.IDLE_S
        if fresh:
            self._connect()
        assert self.conn is not None
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            if fresh:
                raise
            self._connect()
            assert self.conn is not None
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        raw = response.read()
        self.used = time.monotonic()
        return response.status, json.loads(raw) if raw else None

    def _connect(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.used = time.monotonic()


def _metric(text: str, sample: str) -> int | None:
    """The sum of the samples whose line starts with `sample`; None when there is none."""
    found = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sample)]
    return int(sum(found)) if found else None


class Englog:
    """One englog server and its workers; restartable on the same ports and database."""

    name = "englog"

    def __init__(
        self,
        tmp: Path,
        db_url: str | None = None,
        concurrency: int = 32,
        lease_ttl: float = 30.0,
        heartbeat: float = 5.0,
        profile_dir: Path | None = None,
        coalesce: CoalescePolicy | None = DEFAULT_COALESCE,
        src: Path | None = None,
    ) -> None:
        """`src`: run the server and workers from another tree's `src` (a baseline)."""
        self.tmp = tmp
        self.src = src
        self.coalesce = coalesce
        self._shared: EnglogClient | None = None
        self._shared_lock = threading.Lock()
        self.profile_dir = profile_dir
        self.db_url = db_url or f"sqlite:///{tmp / 'bench.db'}"
        self.concurrency = concurrency
        self.lease_ttl = lease_ttl
        self.heartbeat = heartbeat
        self.http_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.server: Service | None = None
        self.workers: dict[str, Service] = {}
        self.health_ports: dict[str, int] = {}
        self._local = threading.local()
        # (queued, running) seconds of each round trip, from the task's own timestamps.
        self.phases: list[tuple[float, float]] = []

    # --- processes -------------------------------------------------------------------
    def _python(self, role: str) -> list[str]:
        """`python -m englog`, or under pyinstrument (bench.profiled) when profiling."""
        if self.profile_dir is None:
            return [python(), "-m", "englog"]
        return [python(), "-m", "bench.profiled", str(self.profile_dir / f"{role}.txt")]

    def _env(self, **extra: str) -> dict[str, str]:
        env = clean_env(**extra)
        if self.src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(self.src), env["PYTHONPATH"]])
        return env

    def start_server(self) -> Service:
        args = [
            *self._python("server"), "server",
            "--db", self.db_url,
            "--grpc-listen", f"127.0.0.1:{self.grpc_port}",
            "--http-listen", f"127.0.0.1:{self.http_port}",
            "--lease-ttl", str(self.lease_ttl),
            "--heartbeat-interval", str(self.heartbeat),
            "--log-level", "warning",
        ]  # fmt: skip
        env = self._env(
            ENGLOG_WORKER_TOKENS=WORKER_TOKEN, ENGLOG_ADMIN_TOKEN=ADMIN_TOKEN, **PLAINTEXT
        )
        self.server = Service("englog server", args, env, self.tmp / "server.log").start()
        self.wait_ready()
        return self.server

    def wait_ready(self, timeout: float = 60.0) -> None:
        server = self.server
        assert server is not None

        def ready() -> bool:
            server.check_alive()
            return httpx.get(f"{self.url}/readiness", timeout=2).status_code == 200

        wait_until(ready, timeout, "englog server readiness")

    def start_worker(self, worker_id: str) -> Service:
        args = [
            *self._python(f"worker-{worker_id}"), "worker",
            "--server", f"127.0.0.1:{self.grpc_port}",
            "--worker-id", worker_id,
            "--concurrency", str(self.concurrency),
            "--outbox", str(self.tmp / f"outbox-{worker_id}.db"),
            "--health-listen", f"127.0.0.1:{self.health_ports.setdefault(worker_id, free_port())}",
            "--log-level", "warning",
        ]  # fmt: skip
        env = self._env(ENGLOG_WORKER_TOKEN=WORKER_TOKEN, **PLAINTEXT)
        log = self.tmp / f"worker-{worker_id}.log"
        worker = Service(f"englog worker {worker_id}", args, env, log).start()
        self.workers[worker_id] = worker
        return worker

    def wait_connected(self, *worker_ids: str, timeout: float = 60.0) -> None:
        def connected() -> bool:
            for w in self.workers.values():
                w.check_alive()
            rows = self.api().workers()
            return set(worker_ids) <= {w.id for w in rows if w.connected}

        wait_until(connected, timeout, f"workers {worker_ids} connected", interval=0.05)

    def start(self, workers: int = 1) -> None:
        self.start_server()
        ids = [f"w{i + 1}" for i in range(workers)]
        for wid in ids:
            self.start_worker(wid)
        self.wait_connected(*ids)

    def stop(self, timeout: float = 15.0) -> None:
        for service in [*self.workers.values(), *([self.server] if self.server else [])]:
            service.stop(timeout)

    def roles(self) -> dict[str, list[int]]:
        assert self.server is not None
        return {"server": [self.server.pid], "worker": [w.pid for w in self.workers.values()]}

    # --- the client ------------------------------------------------------------------
    def api(self) -> EnglogClient:
        """englog's own client library (admin token), one per harness thread; its
        connection pool is thread-safe, but a client per thread keeps them apart."""
        c: EnglogClient | None = getattr(self._local, "api", None)
        if c is None:
            c = self._local.api = EnglogClient(self.url, ADMIN_TOKEN, timeout=60)
        return c

    def shared_api(self) -> EnglogClient:
        """One client for every thread, as a program holds one: what lets `submit`
        calls from its threads be coalesced (`self.coalesce`; None: each sent alone)."""
        with self._shared_lock:
            if self._shared is None:
                self._shared = EnglogClient(
                    self.url, ADMIN_TOKEN, timeout=60, coalesce=self.coalesce
                )
            return self._shared

    def client(self) -> httpx.Client:
        """Plain HTTP, for what is not the REST API (`/metrics`)."""
        c: httpx.Client | None = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = httpx.Client(base_url=self.url, timeout=60)
        return c

    def lean(self) -> LeanClient:
        """One lean connection per harness thread, for the timed requests."""
        c: LeanClient | None = getattr(self._local, "lean", None)
        if c is None:
            c = self._local.lean = LeanClient(self.http_port, ADMIN_TOKEN)
        return c

    def submit_one(self, i: int) -> str:
        status, body = self.lean().call("POST", "/v1/tasks", {"type": "noop", "payload": {"i": i}})
        if status != 202:
            raise BenchError(f"englog submit: {status} {str(body)[:200]}")
        task_id: str = body["task_id"]
        return task_id

    def submit_many(self, start: int, count: int) -> None:
        """`count` tasks through the batch route (the client sends BATCH per request)."""
        try:
            self.api().submit_many(("noop", {"i": i}) for i in range(start, start + count))
        except ClientError as exc:
            raise BenchError(f"englog batch submit: {exc}") from exc

    # --- the client pattern: submit from threads, then collect every result -------------
    def submit_for_result(self, i: int) -> TaskHandle[Any]:
        """One task through the client library (`Client.submit`, idempotency key and
        all), as a program that wants the result submits it."""
        return self.shared_api().submit("noop", {"i": i})

    def collect_all(self, handles: list[TaskHandle[Any]], timeout: float) -> int:
        """Every result, with `Client.wait_all` (a few requests for many tasks)."""
        done = 0
        try:
            for task in self.shared_api().wait_all(handles, timeout=timeout):
                if task.status != "completed":
                    raise BenchError(f"englog task {task.task_id} ended {task.status}")
                done += 1
        except ClientError as exc:
            raise BenchError(f"englog collect: {exc}") from exc
        return done

    def completed(self) -> int:
        """Results the server has committed and acknowledged, summed from the workers'
        own counters, so that polling puts no load on the server under test (its
        /metrics runs a COUNT over the pending tasks, which grows with the queue). Falls
        back to the server's counter for builds whose workers lack it."""
        total, found = 0, False
        for worker_id, port in self.health_ports.items():
            if not self.workers[worker_id].alive:
                continue
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            value = _metric(text, ACKED_METRIC)
            if value is not None:
                total, found = total + value, True
        if found:
            return total
        return _metric(self.client().get("/metrics").text, COMPLETED_METRIC) or 0

    def stored_completed_at_least(self, n: int) -> bool:
        """The database's own answer: is there an n-th completed task?"""
        return bool(self.api().tasks(status="completed", limit=1, offset=n - 1).count)

    def roundtrip(self, i: int, timeout: float = 30.0) -> float:
        """Submit one task and wait for its result in the same request (`Prefer: wait=`,
        RFC 7240): the answer is the finished task, as Celery's `apply_async(...).get()`
        is one call that subscribes to the result, sends the task and blocks until the
        result's pub/sub push. A task still running after the wait (a 202) is followed
        with the long poll."""
        started = time.perf_counter()
        wait = {"Prefer": f"wait={min(timeout, 30.0):g}"}
        task = {"type": "noop", "payload": {"i": i}}
        status, body = self.lean().call("POST", "/v1/tasks", task, wait)
        if status == 200:
            return self._finished(body, started)
        if status != 202:
            raise BenchError(f"englog submit: {status} {str(body)[:200]}")
        return self._polled(body["task_id"], started, timeout)

    def roundtrip_two_requests(self, i: int, timeout: float = 30.0) -> float:
        """Submit one task (202), then long-poll it (`GET /v1/tasks/{id}?wait_s=`): the
        server answers that second request when the result is committed. Its phases
        are not recorded (they describe `roundtrip`'s)."""
        started = time.perf_counter()
        return self._polled(self.submit_one(i), started, timeout, record=False)

    def _polled(self, task_id: str, started: float, timeout: float, record: bool = True) -> float:
        deadline = started + timeout
        while (left := deadline - time.perf_counter()) > 0:
            wait_s = max(0.01, min(left, 30.0))
            _, task = self.lean().call("GET", f"/v1/tasks/{task_id}?wait_s={wait_s:.3f}")
            if task["status"] in ("completed", "failed", "cancelled"):
                return self._finished(task, started, record)
        raise BenchError(f"englog task {task_id} not completed within {timeout}s")

    def _finished(self, task: dict[str, Any], started: float, record: bool = True) -> float:
        elapsed = time.perf_counter() - started
        if task["status"] != "completed":
            raise BenchError(f"englog task {task['task_id']} ended {task['status']}")
        if record:
            self.phases.append(_phases(task))
        return elapsed

    def task(self, task_id: str) -> dict[str, Any]:
        return self.api().task(task_id).refresh().model_dump(mode="json")


class TwoRequests:
    """The same englog, its round trip measured as submit, then long poll."""

    name = "englog_two_requests"

    def __init__(self, englog: Englog) -> None:
        self.englog = englog

    def roundtrip(self, i: int, timeout: float = 30.0) -> float:
        return self.englog.roundtrip_two_requests(i, timeout)


class PlainHttp:
    """The client pattern without englog's client library: one `POST /v1/tasks` per
    task (an Idempotency-Key on each, as a careful program sends) over each thread's
    keep-alive connection, then a long poll (`GET /v1/tasks/{id}?wait_s=`) per result
    from as many threads: what any HTTP client in any language can do."""

    name = "englog_plain_http"

    def __init__(self, englog: Englog, threads: int = 8) -> None:
        self.englog = englog
        self.threads = threads

    def start(self) -> None:
        self.englog.start()

    def stop(self) -> None:
        self.englog.stop()

    def submit_for_result(self, i: int) -> str:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        task = {"type": "noop", "payload": {"i": i}}
        status, body = self.englog.lean().call("POST", "/v1/tasks", task, key)
        if status != 202:
            raise BenchError(f"englog submit: {status} {str(body)[:200]}")
        task_id: str = body["task_id"]
        return task_id

    def collect_all(self, handles: list[str], timeout: float) -> int:
        started = time.perf_counter()

        def one(task_id: str) -> int:
            self.englog._polled(task_id, started, timeout, record=False)
            return 1

        with ThreadPoolExecutor(self.threads) as pool:
            return sum(pool.map(one, handles))
