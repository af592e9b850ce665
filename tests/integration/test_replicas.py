"""Two server replicas on one PostgreSQL database, real processes throughout.

The killed replica is restarted on the same ports, as an orchestrator would restart a
crashed pod behind a stable address: its worker keeps dialling that address (the worker
takes one --server) and reconnects when the replica is back. Meanwhile the surviving
replica takes the silent worker's tasks back and runs them on its own worker."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from englog.domain.tasks import TERMINAL
from tests.support.pg import throwaway_database
from tests.support.procs import ADMIN_TOKEN, Cluster, metric_value, wait_for

TASKS = 500
SLEEP_S = 0.3
HEARTBEAT_S = 0.5
LEASE_TTL_S = 3.0


def _query(url: str, sql: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def _status_counts(url: str) -> dict[str, int]:
    rows = _query(url, "SELECT status, count(*) AS n FROM tasks GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


def _admin(server_url: str) -> httpx.Client:
    return httpx.Client(
        base_url=server_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    )


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[str, Cluster, Cluster]]:
    with throwaway_database("englog_replicas") as url:
        a = Cluster(tmp_path / "a", db_url=url, lease_ttl=LEASE_TTL_S, heartbeat=HEARTBEAT_S)
        b = Cluster(tmp_path / "b", db_url=url, lease_ttl=LEASE_TTL_S, heartbeat=HEARTBEAT_S)
        a.tmp.mkdir()
        b.tmp.mkdir()
        try:
            yield url, a, b
        finally:
            a.stop_all()
            b.stop_all()


def _submit(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post("/v1/tasks", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


def _cross_replica_latencies(submit_to: httpx.Client, probes: int = 10) -> list[float]:
    """Submit to one replica while the only worker streams from the other: the time to
    COMPLETED is the NOTIFY path (the dispatcher's poll alone would average 250 ms)."""
    latencies = []
    for i in range(probes):
        started = time.perf_counter()
        task_id = _submit(submit_to, {"type": "noop", "payload": {"probe": i}})
        wait_for(
            lambda tid=task_id: submit_to.get(f"/v1/tasks/{tid}").json()["status"] == "completed",
            10,
            interval=0.005,
            what="probe task completed",
        )
        latencies.append(time.perf_counter() - started)
    return latencies


@pytest.mark.timeout(240)
def test_500_tasks_across_two_replicas_survive_a_sigkilled_replica(
    replicas: tuple[str, Cluster, Cluster],
) -> None:
    url, a, b = replicas
    server_a, server_b = a.start_server(), b.start_server()
    a.start_worker("wa", concurrency=8)
    a.wait_workers_connected("wa")
    with _admin(server_a.url) as api_a, _admin(server_b.url) as api_b:
        latencies = _cross_replica_latencies(api_b)
        print(
            f"cross-replica submit->completed: median {statistics.median(latencies) * 1000:.1f} ms"
        )
        assert statistics.median(latencies) < 0.2, latencies

        b.start_worker("wb", concurrency=8)
        b.wait_workers_connected("wb")  # "connected" is per replica: its own streams
        body = {"type": "sleep", "payload": {"seconds": SLEEP_S}}
        ids = [_submit(api_a if i % 2 else api_b, body) for i in range(TASKS)]

    wait_for(
        lambda: _status_counts(url).get("completed", 0) >= 150 + len(latencies),
        60,
        interval=0.05,
        what="a third of the tasks completed",
    )
    server_a.kill()  # SIGKILL: no shutdown, streams and leases left as they were
    before = _status_counts(url).get("completed", 0)
    wait_for(
        lambda: _status_counts(url).get("completed", 0) >= before + 50,
        60,
        what="the surviving replica keeps completing tasks",
    )
    a.start_server()  # same ports; "wa" reconnects to it
    a.wait_workers_connected("wa")

    def all_terminal() -> bool:
        counts = _status_counts(url)
        return sum(n for status, n in counts.items() if status in TERMINAL) == TASKS + len(
            latencies
        )

    wait_for(all_terminal, 120, interval=0.2, what="every task finished")

    rows = _query(
        url,
        "SELECT t.id, t.status, t.result, t.attempt, t.worker_id,"
        " count(*) FILTER (WHERE a.outcome = 'completed') AS accepted"
        " FROM tasks t LEFT JOIN task_attempts a ON a.task_id = t.id"
        " WHERE t.type = 'sleep' GROUP BY t.seq",
    )
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == set(ids)
    assert {row["status"] for row in rows} == {"completed"}
    assert all(json.loads(row["result"]) == {"slept": SLEEP_S} for row in rows), rows[0]
    assert {row["accepted"] for row in rows} == {1}  # each result accepted exactly once
    assert {row["worker_id"] for row in rows} == {"wa", "wb"}
    retried = sum(1 for row in rows if row["attempt"] > 1)
    assert retried > 0  # the kill took running work away from "wa"
    stale = 0.0
    for replica in (a, b):
        assert replica.server is not None
        with _admin(replica.server.url) as api:
            metrics = api.get("/metrics").text
        stale += metric_value(metrics, "englog_task_results_total", disposition="stale")
    print(f"tasks retried after the kill: {retried}; stale results refused: {stale:g}")


@pytest.mark.timeout(120)
def test_one_idempotency_key_across_two_replicas_creates_one_task(
    replicas: tuple[str, Cluster, Cluster],
) -> None:
    """The same submission, under one key, sent at once to both replicas many times
    (as a client retrying through a load balancer would): one task, every answer its id."""
    url, a, b = replicas
    servers = [a.start_server(), b.start_server()]
    body = {"type": "noop", "payload": {"order": 42}}
    barrier = threading.Barrier(16)

    def send(i: int) -> tuple[int, str]:
        with _admin(servers[i % 2].url) as client:
            barrier.wait(10)
            r = client.post("/v1/tasks", json=body, headers={"Idempotency-Key": "order-42"})
        return r.status_code, r.json().get("task_id", r.text)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(16)))
    assert {code for code, _ in answers} == {202}, answers
    assert len({task_id for _, task_id in answers}) == 1, answers
    [row] = _query(url, "SELECT count(*) AS n FROM tasks")
    assert row["n"] == 1
