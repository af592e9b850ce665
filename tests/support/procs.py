"""Real server and worker processes for integration and chaos tests, on loopback
ports, with bounded waits on conditions (never bare sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
WORKER_TOKEN = "test-worker-token"
ADMIN_TOKEN = "test-admin-token"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A free loopback port outside the kernel's ephemeral range. A port from that range
    can be taken, while the test's server is down for a restart, as the source port of
    any outgoing connection, or by a client that polls it and connects to itself (TCP
    simultaneous open); either holds it (in TIME_WAIT, without SO_REUSEADDR) and the
    restarted server cannot bind. Outside the range only another deliberate pick can
    collide, and the bind check here (and the caller's retry) covers that."""
    low, high = _ephemeral_range()
    span = (10_000, low) if low > 12_000 else (high + 1, 65_536)
    for _ in range(500):  # bounded: a taken port is just skipped
        port = random.randrange(*span)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError) as exc:
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}: {last_exc}")


def englog_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "englog", *args]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGLOG_")}
    # Plaintext on loopback unless a test gives TLS files (which turn TLS on).
    env.update(
        {"ENGLOG_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1", "ENGLOG_INSECURE": "1"}, **extra
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@dataclass
class Proc:
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    log_offset: int = 0  # where this start's lines begin (a restart appends to the log)

    def start(self) -> Proc:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye."""
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.popen is not None
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_event(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first `event` log line written since this start of the process."""

        def written() -> dict[str, Any] | None:
            if not self.alive:
                raise RuntimeError(f"{self.log_path.name}: exited:\n{self.log()[-3000:]}")
            with self.log_path.open("rb") as f:
                f.seek(self.log_offset)
                text = f.read().decode(errors="replace")
            return next(iter(json_records(text, event)), None)

        return wait_for(written, timeout, what=f"{event} in {self.log_path.name}")


@dataclass
class ServerProc(Proc):
    http_port: int = 0
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if not self.alive:
                raise RuntimeError(f"server exited:\n{self.log()[-3000:]}")
            return httpx.get(f"{self.url}/readiness", timeout=2).status_code == 200

        wait_for(ready, timeout, what="server readiness")


@dataclass
class Cluster:
    """One server (restartable on the same ports and database) and its workers. Its
    ports come from `free_port()`, outside the ephemeral range, so that nothing takes
    them while the server is down for a restart; a first start that finds one taken
    (another test picked it in the meantime) tries other ports."""

    tmp: Path
    db_url: str = ""
    lease_ttl: float = 30.0
    heartbeat: float = 5.0
    server: ServerProc | None = None
    workers: dict[str, Proc] = field(default_factory=dict)
    http_port: int = 0
    grpc_port: int = 0

    def __post_init__(self) -> None:
        if not self.db_url:
            self.db_url = f"sqlite:///{self.tmp / 'englog.db'}"

    def create_user(self, name: str) -> str:
        out = subprocess.run(
            englog_cmd("users", "create", name, "--db", self.db_url, "--init"),
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def start_server(self, *extra: str) -> ServerProc:
        if self.http_port and self.grpc_port:
            return self._start_server(extra)
        for attempt in range(3):
            self.http_port, self.grpc_port = free_port(), free_port()
            try:
                return self._start_server(extra)
            except RuntimeError:
                taken = self.server is not None and "address in use" in self.server.log()
                if not taken or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _start_server(self, extra: tuple[str, ...]) -> ServerProc:
        args = englog_cmd(
            "server",
            "--db",
            self.db_url,
            "--grpc-listen",
            f"127.0.0.1:{self.grpc_port}",
            "--http-listen",
            f"127.0.0.1:{self.http_port}",
            "--lease-ttl",
            str(self.lease_ttl),
            "--heartbeat-interval",
            str(self.heartbeat),
            *extra,
        )
        env = base_env(ENGLOG_WORKER_TOKENS=WORKER_TOKEN, ENGLOG_ADMIN_TOKEN=ADMIN_TOKEN)
        log_path = self.tmp / "server.log"
        self.server = ServerProc(
            args, env, log_path, http_port=self.http_port, grpc_port=self.grpc_port
        )
        self.server.start()
        self.server.wait_ready()
        return self.server

    def start_worker(self, worker_id: str, *extra: str, concurrency: int = 4) -> Proc:
        args = englog_cmd(
            "worker",
            "--server",
            f"127.0.0.1:{self.grpc_port}",
            "--worker-id",
            worker_id,
            "--concurrency",
            str(concurrency),
            *extra,
        )
        proc = Proc(
            args, base_env(ENGLOG_WORKER_TOKEN=WORKER_TOKEN), self.tmp / f"worker-{worker_id}.log"
        )
        self.workers[worker_id] = proc.start()
        return proc

    def admin(self) -> httpx.Client:
        assert self.server is not None
        return httpx.Client(
            base_url=self.server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )

    def wait_workers_connected(self, *worker_ids: str, timeout: float = 30.0) -> None:
        with self.admin() as c:

            def connected() -> bool:
                r = c.get("/v1/workers")
                if r.status_code in (502, 503, 504):  # the store failing under a test's fault
                    return False
                assert r.status_code == 200, f"/v1/workers: {r.status_code} {r.text[:300]}"
                rows = r.json()["workers"]
                up = {w["id"] for w in rows if w["connected"]}
                return set(worker_ids) <= up

            wait_for(connected, timeout, what=f"workers {worker_ids} connected")

    def stop_all(self) -> None:
        """SIGTERM each process, SIGKILL whatever outlives 15 s: every one is gone after
        (a test that needs a clean exit checks `terminate()`'s code itself)."""
        for proc in [*self.workers.values(), *([self.server] if self.server else [])]:
            if proc.alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.terminate(15)
            proc.kill()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (Prometheus text)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


@contextlib.contextmanager
def cluster(tmp: Path, **kwargs: Any) -> Iterator[Cluster]:
    c = Cluster(tmp, **kwargs)
    try:
        yield c
    finally:
        c.stop_all()


async def eventually(
    predicate: Callable[[], Any], within: float = 10.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Async twin of wait_for: `predicate()` (awaited when it returns an awaitable)
    until truthy, bounded in time."""
    for _ in range(max(1, int(within / interval))):
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"timed out after {within}s waiting for {what or predicate}")


def holds_for(
    predicate: Callable[[], Any], duration: float, interval: float = 0.1, what: str = ""
) -> None:
    """Check that `predicate` stays truthy for `duration` seconds (for "never happens"
    assertions such as a worker that must not connect); fails at the first lapse."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        assert predicate(), f"no longer true: {what or predicate}"
        time.sleep(interval)


def log_events(proc: Proc, event: str | None = None) -> list[dict[str, Any]]:
    """The JSON log lines of a process (structlog renders JSON when not on a terminal),
    optionally only those whose `event` is `event`; other lines are skipped."""
    return json_records(proc.log(), event)


def json_records(text: str, event: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (event is None or record.get("event") == event):
            found.append(record)
    return found


def health_port(proc: Proc, timeout: float = 30.0) -> int:
    """The port a worker started with `--health-listen 127.0.0.1:0` bound (its
    `health_listening` line): no port picked in advance that another may take."""
    return int(str(proc.wait_event("health_listening", timeout)["address"]).rsplit(":", 1)[1])


def port_accepting(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def stop_worker_run(
    stop: asyncio.Event, run: asyncio.Task[Any], within: float = 20.0
) -> None:
    """Ask an in-process worker to stop and wait for it: a worker that does not stop in
    time, or stops with an error, fails the test (never swallowed)."""
    stop.set()
    try:
        await asyncio.wait_for(run, within)
    except TimeoutError:
        raise AssertionError(f"the worker did not stop within {within}s of being asked") from None
