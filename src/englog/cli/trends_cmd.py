"""`englog trends` (the last weeks side by side) and `englog target` (the weekly target
that `englog entries` and trends measure a week against)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from englog.cli._app import app, console, fail
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.cli.progress import percent
from englog.cli.when import format_minutes
from englog.client.daily import Trends
from englog.client.models import Me
from englog.trends import DEFAULT_WEEKS, MAX_WEEKS


@app.command("trends")
def trends(
    weeks: Annotated[
        int, typer.Option("--weeks", "-n", min=1, max=MAX_WEEKS, help="How many weeks")
    ] = DEFAULT_WEEKS,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """The last weeks (8 by default), this one last: total, clock time, focus share,
    meetings, top projects, and progress against your target (`englog target`)."""
    with connect(url, token) as client:
        found = client.trends(weeks)
    if as_json:
        print(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    console.print(trends_table(found))


def trends_table(found: Trends) -> Table:
    table = Table("week", "total", "clock", "focus", "meetings", title="trends")
    table.caption = f"local weeks in {found.time_zone}, starting {found.week_start}"
    if found.weekly_target_hours:
        table.add_column("target")
        table.caption += f"; target {found.weekly_target_hours:g} h a week of clock time"
    table.add_column("top projects", ratio=1)
    for week in found.weeks:
        projects = ", ".join(
            f"{p.project or '(none)'} {format_minutes(p.minutes)}" for p in week.top_projects
        )
        row = [
            week.week_start,
            format_minutes(week.total_minutes),
            format_minutes(week.clock_minutes),
            percent(week.focus_ratio) if week.total_minutes else "",
            format_minutes(week.meeting_minutes),
        ]
        if found.weekly_target_hours:
            row.append(percent(week.target_progress))
        table.add_row(*row, projects)
    return table


@app.command("target")
def target(
    hours: Annotated[
        float | None, typer.Argument(help="Hours a week (clock time); none: show it")
    ] = None,
    focus: Annotated[
        float | None, typer.Option("--focus", help="Share of focus work, 0.6 or 60 (%)")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the target")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Your weekly target: `englog target 32 --focus 60`; `englog entries` and
    `englog trends` show each week's progress against it."""
    if focus is not None and focus > 1:
        focus = focus / 100
    if focus is not None and not 0 <= focus <= 1:
        fail("--focus is a share: 0.6, or 60 (%)")
    if hours is not None and not 0 < hours <= 168:
        fail("the target is between 0 and 168 hours a week")
    with connect(url, token) as client:
        me = client.me()
        if clear:
            me = client.set_target(None, None)
        elif hours is not None or focus is not None:
            keep_hours = me.weekly_target_hours if hours is None else hours
            me = client.set_target(keep_hours, me.focus_target if focus is None else focus)
    console.print(describe_target(me), highlight=False)


def describe_target(me: Me) -> str:
    if me.weekly_target_hours is None and me.focus_target is None:
        return "no weekly target (set one: englog target 32 --focus 60)"
    parts = []
    if me.weekly_target_hours is not None:
        parts.append(f"{me.weekly_target_hours:g} h a week")
    if me.focus_target is not None:
        parts.append(f"{percent(me.focus_target)} focus work")
    return "weekly target: " + ", ".join(parts)
