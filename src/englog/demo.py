"""`englog demo`: the whole path in one process, on a temporary SQLite database with
the builtin AI backend: server and worker up, a sample week loaded over REST, an
insight and a weekly report generated and shown, then a graceful shutdown."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from englog.ai.sample import load_sample_week
from englog.domain.tokens import hash_token, new_token
from englog.server.app import Server
from englog.server.state import ServerSettings
from englog.worker.client import Worker
from englog.worker.handlers import load_handlers
from englog.worker.settings import WorkerSettings

TERMINAL = {"completed", "failed", "cancelled"}
WAIT_S = 60.0


async def run_demo(console: Console) -> int:
    with tempfile.TemporaryDirectory(prefix="englog-demo-") as tmp:
        worker_token = new_token("w_")
        server = Server(
            ServerSettings(
                db_url=f"sqlite:///{Path(tmp) / 'demo.db'}",
                grpc_listen="127.0.0.1:0",
                http_listen="127.0.0.1:0",
                worker_tokens=(worker_token,),
                heartbeat_interval_s=1.0,
            )
        )
        addresses = await server.start()
        console.print(
            f"[bold]englog demo[/bold]: server on http://{addresses.http} "
            f"(gRPC {addresses.grpc}), database in {tmp}"
        )
        stop = asyncio.Event()
        worker = Worker(
            WorkerSettings(
                server=addresses.grpc,
                token=worker_token,
                worker_id="demo-worker",
                concurrency=2,
                insecure=True,  # both ends in this process, on loopback
                drain_timeout_s=5.0,
            ),
            load_handlers(),
        )
        worker_task = asyncio.create_task(worker.run(stop), name="demo-worker")
        try:
            return await _scenario(console, server, addresses.http, worker)
        finally:
            stop.set()
            await worker_task
            await server.stop()
            console.print("[green]shut down cleanly[/green]")


async def _scenario(console: Console, server: Server, http: str, worker: Worker) -> int:
    api_token = new_token("eng_")
    await server.state.store.create_user("demo", hash_token(api_token), time.time())
    headers = {"Authorization": f"Bearer {api_token}"}
    async with httpx.AsyncClient(base_url=f"http://{http}", headers=headers, timeout=10) as c:
        entries = load_sample_week()
        reply = await _ok(c.post("/v1/entries/bulk", json={"entries": entries}))
        console.print(f"loaded {reply['count']} activity entries for the week of 2026-11-16")
        async with asyncio.timeout(10):
            await worker.registered.wait()
        insight = await _ok(
            c.post(
                "/v1/tasks/insights",
                json={
                    "insight_type": "productivity",
                    "from": "2026-11-16T00:00:00+01:00",
                    "to": "2026-11-23T00:00:00+01:00",
                },
            )
        )
        report = await _ok(
            c.post("/v1/tasks/reports", json={"week_start": "2026-11-16", "week_end": "2026-11-22"})
        )
        done = await _follow(
            console, c, {"insight": insight["task_id"], "weekly report": report["task_id"]}
        )
    for label, task in done.items():
        _show(console, label, task)
    return 0 if all(t["status"] == "completed" for t in done.values()) else 1


async def _ok(request: Any) -> Any:
    response: httpx.Response = await request
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text}")
    return response.json()


async def _follow(console: Console, c: httpx.AsyncClient, ids: dict[str, str]) -> dict[str, Any]:
    """Poll the tasks over REST, with a progress bar each, until all are finished."""
    done: dict[str, Any] = {}
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bars = {label: progress.add_task(label, total=100, state="pending") for label in ids}
        async with asyncio.timeout(WAIT_S):
            while len(done) < len(ids):
                for label, task_id in ids.items():
                    if label in done:
                        continue
                    task = await _ok(c.get(f"/v1/tasks/{task_id}"))
                    pct = 100 if task["status"] in TERMINAL else task["progress"]
                    state = task["status"] + (
                        f" - {task['progress_message']}" if task.get("progress_message") else ""
                    )
                    progress.update(bars[label], completed=pct, state=state)
                    if task["status"] in TERMINAL:
                        done[label] = task
                await asyncio.sleep(0.1)
    return done


def _show(console: Console, label: str, task: dict[str, Any]) -> None:
    if task["status"] != "completed":
        console.print(Panel(f"{task['status']}: {task.get('error')}", title=label, style="red"))
        return
    r = task["result"]
    parts: list[Any] = [f"[bold]{r.get('title', label)}[/bold]", "", r.get("summary", "")]
    for heading, key in (
        ("Key points", "key_points"),
        ("Highlights", "highlights"),
        ("Recommendations", "recommendations"),
    ):
        if r.get(key):
            parts += ["", f"[bold]{heading}[/bold]", *(f" • {item}" for item in r[key])]
    facts = r.get("facts", {})
    if facts.get("minutes_by_type"):
        table = Table("activity type", "minutes", title="Time by activity type")
        for kind, minutes in facts["minutes_by_type"].items():
            table.add_row(kind, f"{minutes:g}")
        parts += ["", table]
    parts += [
        "",
        f"backend: {r.get('backend')}   confidence: {r.get('confidence', 0):.2f}   "
        f"attempt: {task['attempt']}   worker: {task.get('worker_id')}",
    ]
    console.print(Panel(Group(*parts), title=label, expand=False))
