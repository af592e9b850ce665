"""`englog insight TYPE` and `englog report`: submit, show progress until the task is
done, print the result for a terminal, as Markdown or as JSON (`--out FILE` writes it)."""

from __future__ import annotations

import contextlib
import enum
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from englog.cli import render
from englog.cli._app import app, console, err, fail
from englog.cli._calendar import Calendar, calendar_of
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.cli.when import parse_day
from englog.client import TaskDetail, TaskHandle, Timeout
from englog.client.models import InsightType
from englog.client.periods import as_week, week_label
from englog.domain.localtime import week_containing


class Format(enum.StrEnum):
    RICH = "rich"
    MD = "md"
    JSON = "json"


WeekArg = Annotated[
    str | None, typer.Argument(help="ISO week, 2026-W48 (default: this week)", show_default=False)
]
WeekFlag = Annotated[bool, typer.Option("--week", help="A whole week (the default)")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="rich, md or json")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the result here (Markdown unless --format json)"),
]
TimeoutOpt = Annotated[float, typer.Option(min=1, help="Seconds to wait for the result")]


def _week(week: str | None, cal: Calendar) -> tuple[date, date]:
    """An ISO week, or this week in the account's zone (starting on its week start)."""
    try:
        return as_week(week) if week else week_containing(cal.today(), cal.week_start)
    except ValueError as exc:
        fail(str(exc))


def follow(handle: TaskHandle[Any], label: str, timeout: float) -> TaskDetail:
    """Wait for the task with a progress bar on stderr (its state and message)."""
    deadline = time.monotonic() + timeout
    columns = (TextColumn(label), BarColumn(), TextColumn("{task.fields[state]}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task(label, total=100, state="submitted")
        while handle.last is None or not handle.last.finished:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"{label} not finished within {timeout:g}s; it keeps running: "
                     f"follow it with `englog tasks watch {handle.id}`")  # fmt: skip
            with contextlib.suppress(Timeout):
                handle.wait(min(left, 0.5))
            task = handle.last
            if task is not None:
                state = str(task.status) + (
                    f": {task.progress_message}" if task.progress_message else ""
                )
                progress.update(bar, completed=task.progress, state=state)
    return handle.last


def show(
    handle: TaskHandle[Any], label: str, fmt: Format, out: Path | None, timeout: float
) -> None:
    follow(handle, label, timeout)
    result = handle.result(0)
    if out is not None:
        text = render.as_json(result) if fmt is Format.JSON else render.markdown(result)
        try:
            out.write_text(text)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror}")
        err.print(f"{label} written to {out}")
    elif fmt is Format.JSON:
        print(render.as_json(result), end="")
    elif fmt is Format.MD:
        print(render.markdown(result), end="")
    else:
        console.print(render.rich_view(result))


def _days(start: str | None, end: str | None) -> tuple[date, date]:
    """--from/--to as days; one alone means the week from (or to) it."""
    try:
        first = parse_day(start, "--from") if start else None
        last = parse_day(end, "--to") if end else None
    except ValueError as exc:
        fail(str(exc))
    first = first or last - timedelta(days=6)  # type: ignore[operator]
    last = last or first + timedelta(days=6)
    if last < first:
        fail(f"--to {last} is before --from {first}")
    return first, last


@app.command()
def insight(
    insight_type: Annotated[InsightType, typer.Argument(help="What to look at")],
    week: WeekArg = None,
    whole_week: WeekFlag = False,
    start: Annotated[str | None, typer.Option("--from", help="First day, 2026-11-30")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (included)")] = None,
    context: Annotated[str | None, typer.Option(help="A note for the analysis")] = None,
    fmt: FormatOpt = Format.RICH,
    out: OutOpt = None,
    timeout: TimeoutOpt = 300.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """An insight over a week (this one by default) or --from/--to:
    `englog insight productivity --week`."""
    if (start or end) and (week or whole_week):
        fail("give a week or --from/--to, not both")
    with connect(url, token) as client:
        first, last = _days(start, end) if start or end else _week(week, calendar_of(client))
        handle = client.insight(insight_type, first, last, context=context)
        show(handle, f"{insight_type} insight", fmt, out, timeout)


@app.command()
def report(
    week: WeekArg = None,
    whole_week: WeekFlag = False,
    fmt: FormatOpt = Format.RICH,
    out: OutOpt = None,
    timeout: TimeoutOpt = 300.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """The weekly report: `englog report --week` (this week) or `--week 2026-W48`."""
    with connect(url, token) as client:
        first, last = _week(week, calendar_of(client))
        handle = client.report((first, last))
        label = week_label(first) if first.weekday() == 0 else f"{first}..{last}"
        show(handle, f"report {label}", fmt, out, timeout)
