"""`englog log` (one entry, in one line) and `englog entries` (a week as a table with
per-day totals, `--json`, `edit ID`, `rm ID`)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from englog.cli._app import app, console, fail
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.cli.when import (
    entry_span,
    format_minutes,
    listing_range,
    parse_clock,
    pick_day,
)
from englog.client import Client, Entry
from englog.client.models import ActivityType, ImpactLevel, ValueRating

entries_app = typer.Typer(
    help="List your entries (this week by default); edit or remove one.",
    invoke_without_command=True,
)
app.add_typer(entries_app, name="entries")

TypeOpt = Annotated[ActivityType | None, typer.Option("--type", "-t", help="Activity type")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Project")]
ValueOpt = Annotated[ValueRating | None, typer.Option("--value", help="Value of the work")]
ImpactOpt = Annotated[ImpactLevel | None, typer.Option("--impact", help="Who it helps")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable)")]
# How far back `englog log` looks for the project last used.
LAST_PROJECT_DAYS = 14
SHORT_ID, FULL_ID = 8, 32  # entry ids as the table shows them, and whole
ID_LOOKUP_DAYS = 400


def one_line(entry: Entry) -> str:
    start, end = entry.start_time.astimezone(), entry.end_time.astimezone()
    parts = [
        entry.id,
        f"{start:%a %Y-%m-%d %H:%M}-{end:%H:%M}",
        f"({format_minutes(entry.minutes)})",
        entry.type,
        entry.project or "-",
        entry.title,
    ]
    return "  ".join(str(p) for p in parts)


def last_project(client: Client, now: datetime) -> str | None:
    """The project of the latest entry of the past two weeks, if it had one."""
    recent = list(client.entries(now - timedelta(days=LAST_PROJECT_DAYS), now + timedelta(1)))
    latest = max(recent, key=lambda e: e.end_time, default=None)
    return latest.project if latest else None


@app.command("log")
def log_entry(
    title: Annotated[str, typer.Argument(help="What you did")],
    duration: Annotated[str | None, typer.Argument(help="How long: 45m, 1h30m, 1.5h")] = None,
    project: ProjectOpt = None,
    type: TypeOpt = None,
    start: Annotated[str | None, typer.Option("--from", help="Start time, 09:10")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End time, 10:30")] = None,
    yesterday: Annotated[bool, typer.Option("--yesterday", help="It was yesterday")] = False,
    on: Annotated[str | None, typer.Option("--date", help="The day, 2026-11-30")] = None,
    value: ValueOpt = None,
    impact: ImpactOpt = None,
    tag: TagOpt = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Log what you did: `englog log "Fixed the flaky test" -p atlas -t debugging 45m`.
    It ends now unless --to says otherwise; the project defaults to the last one used."""
    now = datetime.now().astimezone()
    try:
        day = pick_day(yesterday, on, now.date())
        span = entry_span(duration, start, end, day, now)
    except ValueError as exc:
        fail(str(exc))
    with connect(url, token) as client:
        if project is None:
            project = last_project(client, now)
        entry = client.log(
            title,
            start=span.start,
            end=span.end,
            type=str(type or ActivityType.DEVELOPMENT),
            project=project,
            tags=tag or (),
            description=description,
            value_rating=str(value or ValueRating.MEDIUM),
            impact_level=str(impact or ImpactLevel.PERSONAL),
        )
    console.print(one_line(entry), highlight=False, markup=False, soft_wrap=True)


@entries_app.callback()
def entries_list(
    ctx: typer.Context,
    today: Annotated[bool, typer.Option("--today", help="Only today")] = False,
    week: Annotated[str | None, typer.Option("--week", help="An ISO week, 2026-W48")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day, 2026-11-30")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (included)")] = None,
    project: ProjectOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Your entries, this week by default, with the total of each day."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = (url, token)
        return
    try:
        first, last = listing_range(today, week, start, end, date.today())
    except ValueError as exc:
        fail(str(exc))
    with connect(url, token) as client:
        found = list(client.entries(first, last, project=project))
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in found], indent=2))
        return
    console.print(_table(found, first, last))


def _table(found: list[Entry], first: datetime, last: datetime) -> Table | str:
    span = f"{first:%Y-%m-%d} to {last - timedelta(days=1):%Y-%m-%d}"
    if not found:
        return f"no entries from {span}"
    by_day: dict[date, list[Entry]] = defaultdict(list)
    for entry in found:
        by_day[entry.start_time.astimezone().date()].append(entry)
    table = Table("day", "time", "took", "type", "project", title=f"entries {span}")
    table.add_column("title", ratio=1)
    table.add_column("id", no_wrap=True, style="dim")
    for day in sorted(by_day):
        rows = by_day[day]
        for n, e in enumerate(rows):
            start, end = e.start_time.astimezone(), e.end_time.astimezone()
            table.add_row(
                f"{day:%a %d}" if n == 0 else "",
                f"{start:%H:%M}-{end:%H:%M}",
                format_minutes(e.minutes),
                e.type,
                e.project or "",
                e.title,
                e.id[:SHORT_ID],
            )
        total = format_minutes(sum(e.minutes for e in rows))
        table.add_row("", "[bold]total[/bold]", f"[bold]{total}[/bold]", end_section=True)
    all_time = format_minutes(sum(e.minutes for e in found))
    table.caption = (
        f"{len(found)} entries, {all_time} in all (ids shortened: edit and rm take them)"
    )
    return table


def full_id(client: Client, given: str) -> str:
    """An entry id from its first characters, as the table shows them: looked up among
    the entries of the past ID_LOOKUP_DAYS days."""
    if len(given) >= FULL_ID:
        return given
    if len(given) < SHORT_ID:
        fail(f"give at least {SHORT_ID} characters of the entry id")
    now = datetime.now().astimezone()
    since = now - timedelta(days=ID_LOOKUP_DAYS)
    found = {e.id for e in client.entries(since, now + timedelta(days=1)) if e.id.startswith(given)}
    if not found:
        fail(f"no entry id starts with {given!r} (in the past {ID_LOOKUP_DAYS} days)")
    if len(found) > 1:
        fail(f"{given!r} starts {len(found)} entry ids; give more characters")
    return found.pop()


@entries_app.command("edit")
def entries_edit(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(help="Entry id")],
    title: Annotated[str | None, typer.Option("--title")] = None,
    project: ProjectOpt = None,
    type: TypeOpt = None,
    start: Annotated[str | None, typer.Option("--from", help="New start time, 09:10")] = None,
    end: Annotated[str | None, typer.Option("--to", help="New end time, 10:30")] = None,
    value: ValueOpt = None,
    impact: ImpactOpt = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Replace the tags")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Change an entry: only the fields given; times stay on the entry's day."""
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "title": title,
            "project": project,
            "type": type,
            "value_rating": value,
            "impact_level": impact,
            "tags": tag,
            "description": description,
        }.items()
        if v is not None
    }
    if not changes and not start and not end:
        fail("nothing to change: give --title, --project, --type, --from, --to, --tag, ...")
    with connect(*_given(ctx, url, token)) as client:
        entry_id = full_id(client, entry_id)
        if start or end:
            changes.update(_new_times(client.entry(entry_id), start, end))
        entry = client.update_entry(entry_id, **changes)
    console.print(one_line(entry), highlight=False, markup=False, soft_wrap=True)


def _given(ctx: typer.Context, url: str | None, token: str | None) -> tuple[str | None, ...]:
    """--url/--token after the subcommand, else those given to `entries` before it."""
    before = ctx.obj or (None, None)
    return url or before[0], token or before[1]


def _new_times(entry: Entry, start: str | None, end: str | None) -> dict[str, datetime]:
    day = entry.start_time.astimezone()
    times: dict[str, datetime] = {}
    try:
        for key, text, option in (("start_time", start, "--from"), ("end_time", end, "--to")):
            if text:
                clock = parse_clock(text, option)
                times[key] = day.replace(hour=clock.hour, minute=clock.minute, second=0)
    except ValueError as exc:
        fail(str(exc))
    return times


@entries_app.command("rm")
def entries_rm(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(help="Entry id")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete an entry."""
    with connect(*_given(ctx, url, token)) as client:
        entry_id = full_id(client, entry_id)
        client.delete_entry(entry_id)
    console.print(f"deleted {entry_id}")
