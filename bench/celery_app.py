"""The Celery side of the benchmark: one `noop` task, broker and results on the Redis the
bench starts. Celery's defaults are kept, so the comparison is with Celery as people run
it. The worker loads `app` (configured from BENCH_REDIS_URL); the harness makes a fresh
app per run, since a Celery app caches its connection pool and result backend."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery


def noop(payload: Any) -> Any:
    return payload


def make_app(redis_url: str) -> Celery:
    app = Celery("bench", broker=f"{redis_url}/0", backend=f"{redis_url}/1", set_as_current=False)
    app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)
    app.task(name="noop", shared=False)(noop)
    return app


app = make_app(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"))
