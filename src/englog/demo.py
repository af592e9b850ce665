"""`englog demo`: the whole path in one process, on a temporary SQLite database with
the builtin AI backend: server and worker up, a sample week loaded over REST, an
insight and a weekly report generated and shown, then a graceful shutdown."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from englog.ai.sample import load_sample_week
from englog.client import AsyncClient, AsyncTaskHandle, TaskDetail
from englog.domain.tokens import hash_token, new_token
from englog.server import Server, ServerSettings
from englog.worker import Worker, WorkerSettings, load_handlers

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
    async with AsyncClient(f"http://{http}", api_token, timeout=10) as client:
        stored = await client.log_many(load_sample_week())
        console.print(f"loaded {len(stored)} activity entries for the week of 2026-11-16")
        async with asyncio.timeout(10):
            await worker.registered.wait()
        week = timezone(timedelta(hours=1))
        insight = await client.insight(
            "productivity", datetime(2026, 11, 16, tzinfo=week), datetime(2026, 11, 23, tzinfo=week)
        )
        report = await client.report((date(2026, 11, 16), date(2026, 11, 22)))
        done = await _follow(console, {"insight": insight, "weekly report": report})
    for label, task in done.items():
        _show(console, label, task.model_dump(mode="json"))
    return 0 if all(t.status == "completed" for t in done.values()) else 1


async def _follow(
    console: Console, handles: dict[str, AsyncTaskHandle[Any]]
) -> dict[str, TaskDetail]:
    """Poll the tasks over REST, with a progress bar each, until all are finished."""
    done: dict[str, TaskDetail] = {}
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bars = {label: progress.add_task(label, total=100, state="pending") for label in handles}
        async with asyncio.timeout(WAIT_S):
            while len(done) < len(handles):
                for label, handle in handles.items():
                    if label in done:
                        continue
                    task = await handle.refresh()
                    pct = 100 if task.finished else task.progress
                    state = task.status + (
                        f" - {task.progress_message}" if task.progress_message else ""
                    )
                    progress.update(bars[label], completed=pct, state=state)
                    if task.finished:
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
