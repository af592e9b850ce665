"""`englog tasks submit|list|show|watch|cancel` and `englog workers`, on the client
library."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from englog.cli._app import console, err, fail, tasks_app, workers_app
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.client import TaskDetail, Timeout


def _print_task(task: TaskDetail | Any) -> None:
    console.print_json(data=task.model_dump(mode="json"))


@tasks_app.command("submit")
def tasks_submit(
    type: Annotated[str, typer.Argument(help="Task type")],
    payload: Annotated[str, typer.Option(help="JSON payload")] = "{}",
    priority: Annotated[int, typer.Option(min=0)] = 0,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            max=30,
            help="Wait up to this many seconds for the result (Prefer: wait); print the"
            " finished task as JSON, or the id if it is still running",
        ),
    ] = 0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Submit a task (insight_generation and weekly_report have their own routes)."""
    try:
        body = json.loads(payload)
    except ValueError as exc:
        fail(f"--payload is not JSON: {exc}")
    if not isinstance(body, dict):
        fail("--payload must be a JSON object, like '{\"seconds\": 1}'")
    with connect(url, token, timeout=wait + 15.0) as client:
        handle = client.submit(type, body, priority=priority, wait=wait)
    if handle.last is None:  # 202: not finished (or no wait asked)
        print(handle.id)
        return
    _print_task(handle.last)
    raise typer.Exit(0 if handle.last.status == "completed" else 2)


@tasks_app.command("list")
def tasks_list(
    status: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List your tasks, newest first."""
    with connect(url, token) as client:
        found = client.tasks(status=status, limit=limit)
    table = Table("type", "status", "attempt", "progress", "created")
    table.add_column("id", no_wrap=True, min_width=32)
    for t in found.tasks:
        created = t.created_at.isoformat()[:19] if t.created_at else ""
        table.add_row(t.type, t.status, str(t.attempt), f"{t.progress:.0f}%", created, t.task_id)
    console.print(table)


@tasks_app.command("show")
def tasks_show(task_id: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Show one task as JSON."""
    with connect(url, token) as client:
        _print_task(client.task(task_id).refresh())


@tasks_app.command("watch")
def tasks_watch(
    task_id: str,
    timeout: Annotated[float, typer.Option(min=0.1)] = 300.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Follow a task until it finishes (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    with connect(url, token) as client:
        handle = client.task(task_id)
        task, last = handle.refresh(), None
        while True:
            if (task.status, task.progress) != last:
                err.print(f"{task.status} {task.progress:.0f}% {task.progress_message or ''}")
                last = (task.status, task.progress)
            left = deadline - time.monotonic()
            if task.finished or left <= 0:
                break
            with contextlib.suppress(Timeout):  # a second's wait, then show progress
                handle.wait(min(left, 1.0))
            task = handle.last or task
    if not task.finished:
        fail(f"task {task_id} did not finish within {timeout:g}s")
    _print_task(task)
    raise typer.Exit(0 if task.status == "completed" else 2)


@tasks_app.command("cancel")
def tasks_cancel(task_id: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Cancel a task: at once if pending, through its worker if running."""
    with connect(url, token) as client:
        _print_task(client.task(task_id).cancel())


@workers_app.callback(invoke_without_command=True)
def workers(
    ctx: typer.Context,
    url: UrlOpt = None,
    token: Annotated[
        str | None, typer.Option(envvar="ENGLOG_ADMIN_TOKEN", help="Admin token")
    ] = None,
) -> None:
    """List registered workers (admin token)."""
    if ctx.invoked_subcommand is not None:
        return
    with connect(url, token) as client:
        found = client.workers()
    table = Table("id", "status", "connected", "capabilities", "last heartbeat")
    for w in found:
        table.add_row(
            w.id, w.status, str(w.connected), ", ".join(w.capabilities), str(w.last_heartbeat_at)
        )
    console.print(table)
