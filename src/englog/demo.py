"""`englog demo`: the whole path in one process, on a temporary SQLite database with
the builtin AI backend: server and worker up, a sample week loaded over REST, an
insight and a weekly report generated and shown, then a graceful shutdown. With
`--serve` the server stays up afterwards for the web app, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from englog.ai.sample import SAMPLE_WEEK_START, load_sample_week
from englog.client import AsyncClient, AsyncTaskHandle, TaskDetail
from englog.domain.tokens import hash_token, new_token
from englog.server import Server, ServerSettings
from englog.worker import Worker, WorkerSettings, load_handlers

WAIT_S = 60.0
SERVE_PORT = 8080  # `englog demo --serve`: the server's usual HTTP port


async def run_demo(console: Console) -> int:
    """The scenario, then a clean shutdown: 0 when the insight and the report completed."""
    async with _running(console, "127.0.0.1:0") as (server, http, worker):
        return await _scenario(console, server, http, worker, new_token("eng_"))


async def serve_demo(console: Console, stop: asyncio.Event, port: int = SERVE_PORT) -> int:
    """`englog demo --serve`: the scenario, then the web app stays up on `port` (0: any
    free port) with the demo user's token and an admin token printed, until `stop` is
    set (SIGINT/SIGTERM), so people can look at the sample week in a browser."""
    admin_token = new_token("adm_")
    api_token = new_token("eng_")
    async with _running(console, f"127.0.0.1:{port}", admin_token) as (server, http, worker):
        scenario = asyncio.create_task(_scenario(console, server, http, worker, api_token))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({scenario, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not scenario.done():  # interrupted before the scenario finished: just stop
            scenario.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scenario
            return 0
        stopped.cancel()
        code = scenario.result()
        if code != 0:
            return code
        _print_serving(console, http, api_token, admin_token)
        await stop.wait()
        return 0


def _print_serving(console: Console, http: str, api_token: str, admin_token: str) -> None:
    """Where to go and what to sign in with, one value a line so scripts can read them."""
    lines = [
        "",
        f"web app: http://{http}/app/week?start={SAMPLE_WEEK_START}",
        f"sign in as demo with API token: {api_token}",
        f"operator (admin) token: {admin_token}",
        "serving until Ctrl-C",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.file.flush()


@contextlib.asynccontextmanager
async def _running(
    console: Console, http_listen: str, admin_token: str | None = None
) -> AsyncIterator[tuple[Server, str, Worker]]:
    """A server on a temporary SQLite database and a worker beside it, in this process;
    both stopped (the worker drained first) however the body ends."""
    with tempfile.TemporaryDirectory(prefix="englog-demo-") as tmp:
        worker_token = new_token("w_")
        server = Server(
            ServerSettings(
                db_url=f"sqlite:///{Path(tmp) / 'demo.db'}",
                grpc_listen="127.0.0.1:0",
                http_listen=http_listen,
                worker_tokens=(worker_token,),
                admin_token=admin_token,
                heartbeat_interval_s=1.0,
            )
        )
        try:
            addresses = await server.start()
        except BaseException:
            await server.stop()
            raise
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
            yield server, addresses.http, worker
        finally:
            stop.set()
            await worker_task
            await server.stop()
            console.print("[green]shut down cleanly[/green]")


async def _scenario(
    console: Console, server: Server, http: str, worker: Worker, api_token: str
) -> int:
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
