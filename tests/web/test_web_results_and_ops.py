"""Reports, insights and the operator's pages against a real server and a real worker
(builtin AI backend), in one process: what each page shows once a worker has run the
task, and that another user reaches none of it (issue 14)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from englog.ai.sample import load_sample_week
from englog.domain.tokens import hash_token
from englog.server import Server, ServerSettings
from englog.worker import Worker, WorkerSettings, load_handlers
from tests.support.procs import eventually
from tests.web.conftest import ADMIN, ALICE, BOB, csrf_of

pytestmark = pytest.mark.timeout(60)
WORKER_TOKEN = "web-test-worker-token"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[str]:
    server = Server(
        ServerSettings(
            db_url=f"sqlite:///{tmp_path / 'web.db'}",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            worker_tokens=(WORKER_TOKEN,),
            admin_token=ADMIN,
            heartbeat_interval_s=1.0,
        )
    )
    addresses = await server.start()
    for name, token in (("alice", ALICE), ("bob", BOB)):
        await server.state.store.create_user(name, hash_token(token), time.time())
    stop = asyncio.Event()
    worker = Worker(
        WorkerSettings(
            server=addresses.grpc,
            token=WORKER_TOKEN,
            worker_id="web-worker",
            concurrency=2,
            insecure=True,
            drain_timeout_s=5.0,
        ),
        load_handlers(),
    )
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.registered.wait(), 10)
    try:
        yield f"http://{addresses.http}"
    finally:
        stop.set()
        await running
        await server.stop()


@contextlib.asynccontextmanager
async def _browser(base: str, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        form = await client.get("/app/signin")
        answer = await client.post("/app/signin", data={"token": token, "csrf": csrf_of(form)})
        assert answer.status_code == 303
        yield client


async def _post(client: httpx.AsyncClient, page: str, url: str, data: dict[str, str]) -> str:
    csrf = csrf_of(await client.get(page))
    answer = await client.post(url, data={**data, "csrf": csrf})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def _until_finished(client: httpx.AsyncClient, url: str) -> str:
    """The page once its task is finished: the panel fragment, as htmx polls it."""

    async def finished() -> bool:
        panel = await client.get(f"{url}/panel", headers={"HX-Request": "true"})
        assert panel.status_code == 200
        return "hx-trigger" not in panel.text  # the panel stops polling when finished

    await eventually(finished, within=30, interval=0.2, what=f"{url} finished")
    return (await client.get(url)).text


async def test_a_report_and_an_insight_read_as_pages(http: str) -> None:
    async with _browser(http, ALICE) as alice:
        week = load_sample_week()
        api = {"Authorization": f"Bearer {ALICE}"}
        stored = await alice.post("/v1/entries/bulk", json={"entries": week}, headers=api)
        assert stored.status_code == 201
        expected = round(sum(_minutes(e) for e in stored.json()["entries"]))
        report_url = await _post(
            alice, "/app/reports", "/app/reports", {"week_start": "2026-11-18"}
        )
        page = await _until_finished(alice, report_url)
        assert 'data-testid="task-status">completed<' in page
        total = re.search(r'data-testid="report-total-minutes">(\d+)<', page)
        assert total and int(total.group(1)) == expected
        for heading in ("Narrative", "Facts", "Recommendations", "Confidence", "Backend"):
            assert f"<h3>{heading}</h3>" in page
        assert 'data-testid="degraded"' not in page
        daily = re.search(r'<th scope="row">daily totals</th><td>([^<]*)</td>', page)
        assert daily, "no daily totals in the facts"
        assert re.findall(r"2026-11-\d\d", daily.group(1)) == [
            f"2026-11-{d}" for d in range(16, 23)
        ]  # every day of the week on the page: a page is no terminal, nothing is cut
        assert "2026-11-16 → 2026-11-22, local days in UTC" in page
        md = await alice.get(f"{report_url}.md")
        assert md.headers["content-type"].startswith("text/markdown")
        assert "attachment" in md.headers["content-disposition"]
        assert md.text.startswith("# ") and "## Facts" in md.text
        md_daily = next(line for line in md.text.splitlines() if "| daily totals |" in line)
        assert re.findall(r"2026-11-\d\d", md_daily) == [f"2026-11-{d}" for d in range(16, 23)]
        assert "…" not in md.text and "hidden" not in md.text  # the download is never cut
        listing = (await alice.get("/app/reports")).text
        assert "Week of 2026-11-16" in listing
        assert 'data-testid="report-days">2026-11-16 → 2026-11-22<' in listing
        insight_url = await _post(
            alice,
            "/app/insights",
            "/app/insights",
            {"insight_type": "time_management", "from": "2026-11-16", "to": "2026-11-22"},
        )
        insight = await _until_finished(alice, insight_url)
        assert 'data-testid="confidence"' in insight and "builtin" in insight
        report_id = report_url.rsplit("/", 1)[1]
    async with _browser(http, BOB) as bob:
        for url in (report_url, f"{report_url}/panel", f"{report_url}.md", insight_url):
            answer = await bob.get(url)
            assert answer.status_code == 404, url
            assert "Narrative" not in answer.text
        assert report_id not in (await bob.get("/app/reports")).text
        empty = await bob.post(
            "/app/reports",
            data={"week_start": "2026-11-18", "csrf": csrf_of(await bob.get("/app/reports"))},
        )
        assert empty.status_code == 422 and "no entries" in empty.text
    async with _browser(http, ADMIN) as admin:
        task = (await admin.get(f"/app/ops/tasks/{report_id}")).text
        assert 'data-testid="attempt-row"' in task and "web-worker" in task
        assert "Retry task" not in task and "Cancel task" not in task  # completed
        workers = (await admin.get("/app/ops/workers")).text
        assert 'data-testid="worker-row"' in workers and "web-worker" in workers
        assert "connected" in workers
        queue = (await admin.get("/app/ops/queue?type=weekly_report")).text
        assert report_id in queue
        assert re.search(r'data-testid="count-completed">(\d+)<', queue).group(1) == "2"  # type: ignore[union-attr]


def _minutes(entry: dict[str, str]) -> float:
    span = datetime.fromisoformat(entry["end_time"]) - datetime.fromisoformat(entry["start_time"])
    return span.total_seconds() / 60


async def test_operator_cancels_a_pending_task_and_retries_it(http: str) -> None:
    api = {"Authorization": f"Bearer {ADMIN}"}
    async with _browser(http, ADMIN) as admin:
        # Two long sleeps fill the worker's two slots, so the third task stays pending.
        sleeps = {"type": "sleep", "payload": {"seconds": 60}}
        batch = await admin.post("/v1/tasks/batch", json={"tasks": [sleeps] * 3}, headers=api)
        ids = [t["task_id"] for t in batch.json()["tasks"]]
        pending = await _a_pending_one(admin, ids)
        page = f"/app/ops/tasks/{pending}"
        assert "Cancel task" in (await admin.get(page)).text
        where = await _post(admin, page, f"{page}/cancel", {})
        after = (await admin.get(where)).text
        assert 'data-testid="task-status">cancelled<' in after and "Cancelled" in after
        assert "Retry task" in after
        where = await _post(admin, page, f"{page}/retry", {})
        again = where.split("?")[0].rsplit("/", 1)[1]
        assert again not in ids
        retried = (await admin.get(where)).text
        assert "Submitted again" in retried and f'/app/ops/tasks/{pending}"' in retried
        assert re.search(r'data-testid="task-status">(pending|running)<', retried)
        for task_id in [*ids, again]:  # let the worker go
            await admin.post(f"/v1/tasks/{task_id}/cancel", headers=api)


async def _a_pending_one(client: httpx.AsyncClient, ids: list[str]) -> str:
    """The id of one of `ids` still pending once the other two run."""
    api = {"Authorization": f"Bearer {ADMIN}"}

    async def pending_one() -> str | None:
        statuses = {
            i: (await client.get(f"/v1/tasks/{i}", headers=api)).json()["status"] for i in ids
        }
        if sorted(statuses.values()) != ["pending", "running", "running"]:
            return None
        return next(i for i, s in statuses.items() if s == "pending")

    found: str = await eventually(pending_one, within=10, interval=0.1, what="two running")
    return found
