"""The REST API against a client that sends too much, on a real server process: rate
limits per token and per address (429 with Retry-After, counted in /metrics), bounded
waiting (long polls and Prefer: wait beyond the caps answer at once), idle and slow
connections closed, a normal request unhurt by hundreds of idle connections and
pending long polls, batch submissions honouring Idempotency-Key, and bad input answered
with a 4xx that names the problem while the server keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ADMIN_TOKEN, Cluster, ServerProc, cluster, metric_value, wait_for


@dataclass
class Api:
    cluster: Cluster
    server: ServerProc
    token: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def metrics(self) -> str:
        return httpx.get(f"{self.server.url}/metrics", timeout=10).text


@contextlib.contextmanager
def api(tmp: Path, *flags: str) -> Iterator[Api]:
    with cluster(tmp) as c:
        server = c.start_server(*flags)
        yield Api(c, server, c.create_user("abuser"))


def noop() -> dict[str, Any]:
    return {"type": "noop", "payload": {}}


# --- rate limits -------------------------------------------------------------------


def test_submissions_beyond_the_rate_get_429_with_retry_after(tmp_path: Path) -> None:
    # Half a token a second: the 8 submissions would have to take 4 s to see two refills.
    flags = ("--submit-rate", "0.5", "--submit-burst", "5", "--request-rate", "50")
    with api(tmp_path, *flags) as a, a.client() as c:
        assert c.get("/v1/tasks").status_code == 200  # the token is known from now on
        answers = [c.post("/v1/tasks", json=noop()) for _ in range(8)]
        codes = [r.status_code for r in answers]
        assert codes[:5] == [202] * 5, codes
        refused = [r for r in answers if r.status_code == 429]
        assert len(refused) >= 2, codes
        body = refused[0].json()
        assert body["error"] == "rate_limited"
        assert "submissions" in body["detail"] and "0.5/s burst 5" in body["detail"]
        retry_after = int(refused[0].headers["Retry-After"])
        assert 1 <= retry_after <= 2
        # Other requests have their own bucket; the probes are never limited.
        assert c.get("/v1/tasks").status_code == 200
        assert all(c.get("/health").status_code == 200 for _ in range(20))
        text = a.metrics()
        assert metric_value(text, "englog_http_rate_limited_total", limit="submit") == len(refused)
        # Coming back after Retry-After works.
        wait_for(
            lambda: c.post("/v1/tasks", json=noop()).status_code == 202,
            timeout=retry_after + 3,
            interval=retry_after,
            what="a submission accepted after Retry-After",
        )


def test_unknown_tokens_are_limited_per_address_and_the_admin_not_at_all(
    tmp_path: Path,
) -> None:
    # One token per 10 s: the 8 requests would have to take 30 s for the bucket to refill
    # three times, so a slow moment of the machine cannot hide the limit.
    flags = ("--anonymous-rate", "0.1", "--anonymous-burst", "5", "--request-rate", "5")
    with api(tmp_path, *flags) as a:
        codes = []
        for _ in range(8):
            with a.client(token=f"forged-{secrets.token_hex(8)}") as forged:
                codes.append(forged.get("/v1/tasks").status_code)
        assert codes[:5] == [401] * 5, codes
        assert 429 in codes[5:], codes
        with a.client(token=ADMIN_TOKEN) as admin:
            assert {admin.get("/v1/tasks").status_code for _ in range(30)} == {200}
        assert metric_value(a.metrics(), "englog_http_rate_limited_total", limit="anonymous") >= 1


def test_a_users_other_requests_are_limited_per_token(tmp_path: Path) -> None:
    # One token per 5 s, so ten requests cannot outlast the limit on a slow machine.
    with api(tmp_path, "--request-rate", "0.2", "--request-burst", "4") as a, a.client() as c:
        codes = [c.get("/v1/entries").status_code for _ in range(10)]
        assert codes.count(200) <= 6 and 429 in codes, codes
        other = a.cluster.create_user("bystander")
        with a.client(token=other) as bystander:
            assert bystander.get("/v1/entries").status_code == 200


# --- bounded waiting -----------------------------------------------------------------


# A wait far longer than any test here takes: it ends only by being capped or because
# its task ends.
LONG = 25.0


def _long_poll(a: Api, task_id: str, wait_s: float, token: str | None = None) -> httpx.Response:
    with a.client(token) as c:
        return c.get(f"/v1/tasks/{task_id}", params={"wait_s": wait_s})


def test_waits_beyond_the_caps_are_answered_at_once(tmp_path: Path) -> None:
    """No worker: tasks stay pending, so every wait runs its full length unless capped
    (or until the task is cancelled, which ends the test's waits)."""
    flags = ("--max-waits-per-token", "2", "--max-waits", "3")
    with api(tmp_path, *flags) as a, a.client() as c, ThreadPoolExecutor(8) as pool:
        other = a.cluster.create_user("patient")
        task_id = c.post("/v1/tasks", json=noop()).json()["task_id"]
        held = [pool.submit(_long_poll, a, task_id, LONG) for _ in range(2)]
        wait_for(
            lambda: metric_value(a.metrics(), "englog_http_waiting_requests") == 2,
            what="two long polls holding their slots",
        )
        started = time.monotonic()
        capped = c.get(f"/v1/tasks/{task_id}", params={"wait_s": LONG})
        assert capped.status_code == 200 and capped.json()["status"] == "pending"
        waited = c.post("/v1/tasks", json=noop(), headers={"Prefer": f"wait={LONG:g}"})
        assert waited.status_code == 202 and "Preference-Applied" not in waited.headers
        assert time.monotonic() - started < 4, "capped waits must not wait"
        # Another caller still has the total's last slot; then the total is full too.
        third = pool.submit(_long_poll, a, task_id, LONG, ADMIN_TOKEN)
        wait_for(lambda: metric_value(a.metrics(), "englog_http_waiting_requests") == 3)
        with a.client(token=other) as patient:
            own = patient.post("/v1/tasks", json=noop()).json()["task_id"]
            started = time.monotonic()
            r = patient.get(f"/v1/tasks/{own}", params={"wait_s": LONG})
            assert r.status_code == 200 and r.json()["status"] == "pending"
            assert time.monotonic() - started < 4
        text = a.metrics()
        assert metric_value(text, "englog_http_waits_refused_total", cap="token") == 2
        assert metric_value(text, "englog_http_waits_refused_total", cap="total") == 1
        assert c.post(f"/v1/tasks/{task_id}/cancel").status_code == 200
        for future in [*held, third]:  # woken by the cancellation
            assert future.result(10).json()["status"] == "cancelled"


def test_the_batch_wait_beyond_the_cap_looks_once(tmp_path: Path) -> None:
    flags = ("--max-waits-per-token", "1")
    with api(tmp_path, *flags) as a, a.client() as c, ThreadPoolExecutor(2) as pool:
        task_id = c.post("/v1/tasks", json=noop()).json()["task_id"]
        held = pool.submit(_long_poll, a, task_id, LONG)
        wait_for(lambda: metric_value(a.metrics(), "englog_http_waiting_requests") == 1)
        started = time.monotonic()
        r = c.post("/v1/tasks/wait", json={"ids": [task_id], "timeout_s": LONG})
        assert r.status_code == 200, r.text
        assert r.json()["pending"] == [task_id]
        assert time.monotonic() - started < 4
        assert c.post(f"/v1/tasks/{task_id}/cancel").status_code == 200
        assert held.result(10).json()["status"] == "cancelled"


# --- connections ---------------------------------------------------------------------


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """True once the server closed `sock` (EOF or reset) within `within` seconds; data
    the server sends first (a 408, say) is read and skipped."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def test_silent_slow_and_idle_connections_are_closed(tmp_path: Path) -> None:
    flags = ("--http-read-timeout", "1", "--http-idle-timeout", "1")
    with api(tmp_path, *flags) as a:
        port = a.server.http_port
        with socket.create_connection(("127.0.0.1", port)) as silent:
            assert _closed_by_server(silent, within=5)
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            closed = False
            for _ in range(20):  # a header byte every 0.3 s: never a whole request
                try:
                    slow.sendall(b"X")
                except OSError:
                    closed = True
                    break
                if _closed_by_server(slow, within=0.3):
                    closed = True
                    break
            assert closed, "a request trickling in for 6 s must be cut off"
        with socket.create_connection(("127.0.0.1", port)) as idle:
            idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert idle.recv(4096).startswith(b"HTTP/1.1 200")
            assert _closed_by_server(idle, within=5)
        with a.client() as c:  # and the server keeps serving
            assert c.get("/readiness").status_code == 200


def _median_latency(c: httpx.Client, path: str, n: int = 30) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        assert c.get(path).status_code == 200
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def _hold_long_polls(url: str, token: str, task_id: str, n: int) -> list[str]:
    """`n` long polls at once; the status each answered."""
    limits = httpx.Limits(max_connections=n + 5, max_keepalive_connections=n + 5)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:

        async def poll() -> str:
            r = await c.get(f"/v1/tasks/{task_id}", params={"wait_s": LONG})
            return str(r.json()["status"])

        return list(await asyncio.gather(*(poll() for _ in range(n))))


def test_idle_connections_and_pending_long_polls_do_not_delay_a_normal_request(
    tmp_path: Path,
) -> None:
    """300 connections that send nothing and 200 long polls held open: a plain
    GET /v1/tasks/{id} stays within a wide margin of its latency on an idle server."""
    flags = ("--http-read-timeout", "60", "--max-waits-per-token", "250")
    with api(tmp_path, *flags) as a, a.client() as c:
        task_id = c.post("/v1/tasks", json=noop()).json()["task_id"]
        path = f"/v1/tasks/{task_id}"
        quiet = _median_latency(c, path)
        with contextlib.ExitStack() as stack, ThreadPoolExecutor(1) as pool:
            idle = [
                stack.enter_context(socket.create_connection(("127.0.0.1", a.server.http_port)))
                for _ in range(300)
            ]
            polls = pool.submit(asyncio.run, _hold_long_polls(a.server.url, a.token, task_id, 200))
            wait_for(
                lambda: metric_value(a.metrics(), "englog_http_waiting_requests") == 200,
                timeout=30,
                what="200 long polls waiting",
            )
            busy = _median_latency(c, path)
            assert not any(_closed_by_server(sock, within=0.01) for sock in idle[::30])
            assert busy < max(20 * quiet, quiet + 0.1), (quiet, busy)
            assert c.post(f"{path}/cancel").status_code == 200
            assert polls.result(30) == ["cancelled"] * 200


# --- batch idempotency ------------------------------------------------------------------


def _batch(n: int, tag: str) -> dict[str, Any]:
    return {"tasks": [{"type": "noop", "payload": {"tag": tag, "i": i}} for i in range(n)]}


def test_a_retried_batch_with_the_same_key_creates_its_tasks_once(tmp_path: Path) -> None:
    with api(tmp_path) as a, a.client() as c:
        key = {"Idempotency-Key": "batch-key-1"}
        first = c.post("/v1/tasks/batch", json=_batch(5, "a"), headers=key)
        again = c.post("/v1/tasks/batch", json=_batch(5, "a"), headers=key)
        assert first.status_code == again.status_code == 202
        ids = [t["task_id"] for t in first.json()["tasks"]]
        assert [t["task_id"] for t in again.json()["tasks"]] == ids
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert c.get("/v1/tasks").json()["count"] == 5
        changed = c.post("/v1/tasks/batch", json=_batch(6, "b"), headers=key)
        assert changed.status_code == 422
        assert changed.json()["error"] == "idempotency_key_reused"
        # A single submission with the same key is another request, not this batch's.
        single = c.post("/v1/tasks", json=noop(), headers=key)
        assert single.status_code == 202 and single.json()["task_id"] not in ids
        assert c.get("/v1/tasks").json()["count"] == 6


def test_concurrent_retries_of_one_batch_create_it_once(tmp_path: Path) -> None:
    with api(tmp_path) as a:

        def send(_: int) -> list[str]:
            with a.client() as c:
                r = c.post(
                    "/v1/tasks/batch",
                    json=_batch(50, "c"),
                    headers={"Idempotency-Key": "together"},
                )
                assert r.status_code == 202, r.text
                return [t["task_id"] for t in r.json()["tasks"]]

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(4)))
        assert all(ids == answers[0] for ids in answers)
        with a.client() as c:
            assert c.get("/v1/tasks", params={"limit": 1000}).json()["count"] == 50


# --- bad input ------------------------------------------------------------------------


JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [
        ("POST", "/v1/tasks", {"content": b"{not json", "headers": JSON}, 400, "invalid_json"),
        ("POST", "/v1/tasks", {"content": b"\xff\xfe{}", "headers": JSON}, 400, "invalid_json"),
        ("POST", "/v1/tasks", {"content": b"{}", "headers": TEXT}, 422, "validation_error"),
        ("POST", "/v1/tasks", {"json": {"type": "noop", "priority": True}}, 422, None),
        ("POST", "/v1/tasks", {"json": {"type": "noop", "timeout_s": "5"}}, 422, None),
        ("POST", "/v1/tasks", {"json": {"type": "x" * 101}}, 422, "validation_error"),
        ("POST", "/v1/tasks", {"json": [1, 2]}, 422, "validation_error"),
        ("POST", "/v1/tasks/batch", {"json": {"tasks": []}}, 422, "validation_error"),
        ("GET", "/v1/tasks", {"params": {"limit": "1e3"}}, 422, "validation_error"),
        ("GET", "/v1/tasks/x", {"params": {"wait_s": "nan"}}, 422, "validation_error"),
        ("GET", "/v1/tasks/" + "x" * 5000, {}, 404, "not_found"),
        ("DELETE", "/v1/tasks", {}, 405, "method_not_allowed"),
        (
            "POST",
            "/v1/tasks",
            {"headers": {"Idempotency-Key": "k" * 300}, "json": noop()},
            422,
            None,
        ),
    ],
)
def test_bad_input_gets_a_4xx_that_names_the_problem(
    shared_api: Api, method: str, path: str, kwargs: dict[str, Any], status: int, error: str | None
) -> None:
    with shared_api.client() as c:
        r = c.request(method, path, **kwargs)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["detail"], body
        if error is not None:
            assert body["error"] == error, body
        assert c.get("/readiness").status_code == 200


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with api(tmp_path_factory.mktemp("abuse")) as a:
        yield a
