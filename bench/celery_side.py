"""Celery 5 + Redis under test: a redis-server on a free loopback port and one prefork
worker of concurrency 2, driven by the same harness through `apply_async`."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from celery.result import AsyncResult

from bench import celery_app
from bench.procs import BenchError, Service, clean_env, free_port, python, wait_until

BATCH = 1000


class CeleryRedis:
    name = "celery"

    def __init__(self, tmp: Path, concurrency: int = 2) -> None:
        self.tmp = tmp
        self.concurrency = concurrency
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.redis: Service | None = None
        self.worker: Service | None = None
        self._results: redis.Redis | None = None
        self.app = celery_app.make_app(self.url)
        self.noop = self.app.tasks["noop"]

    def start(self, workers: int = 1) -> None:
        if workers != 1:
            raise BenchError("the Celery side runs one worker")
        args = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.tmp),
        ]  # fmt: skip
        self.redis = Service("redis-server", args, clean_env(), self.tmp / "redis.log").start()
        self._results = redis.Redis(host="127.0.0.1", port=self.port, db=1)
        results = self._results
        wait_until(lambda: results.ping(), 20, "redis-server")
        args = [
            python(), "-m", "celery", "-A", "bench.celery_app", "worker",
            "--pool", "prefork", "--concurrency", str(self.concurrency),
            "--loglevel", "warning", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        env = clean_env(BENCH_REDIS_URL=self.url)
        self.worker = Service("celery worker", args, env, self.tmp / "celery.log").start()

        def answers() -> bool:
            assert self.worker is not None
            self.worker.check_alive()
            replies = self.app.control.ping(timeout=0.5)
            return bool(replies)

        wait_until(answers, 60, "celery worker ping", interval=0.2)

    def stop(self) -> None:
        for service in (self.worker, self.redis):
            if service is not None:
                service.stop()
        if self._results is not None:
            self._results.close()
        self.app.close()

    def roles(self) -> dict[str, list[int]]:
        assert self.redis is not None and self.worker is not None
        return {"server": [self.redis.pid], "worker": [self.worker.pid]}

    def submit_one(self, i: int) -> str:
        task_id: str = self.noop.apply_async(({"i": i},)).id
        return task_id

    def submit_many(self, start: int, count: int) -> None:
        """The nearest Celery has to a batch: a `group`, sent with one producer."""
        from celery import group

        for first in range(start, start + count, BATCH):
            n = min(BATCH, start + count - first)
            group(self.noop.s({"i": i}) for i in range(first, first + n)).apply_async()

    def completed(self) -> int:
        """Result keys in the backend's database (DBSIZE is O(1))."""
        assert self._results is not None
        return int(self._results.dbsize())

    def submit_for_result(self, i: int) -> AsyncResult:
        return self.noop.delay({"i": i})

    def collect_all(self, handles: list[AsyncResult], timeout: float) -> int:
        """`get()` on each result, as a Celery program collects them."""
        deadline = time.monotonic() + timeout
        for result in handles:
            result.get(timeout=max(0.1, deadline - time.monotonic()))
        return len(handles)

    def roundtrip(self, i: int, timeout: float = 30.0) -> float:
        started = time.perf_counter()
        result = self.noop.apply_async(({"i": i},))
        result.get(timeout=timeout)
        return time.perf_counter() - started
