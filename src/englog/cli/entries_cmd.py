"""`englog log` (one entry, in one line) and `englog entries` (a week as a table with
per-day totals, `--json`, `edit ID`, `rm ID`)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from englog.cli._app import app, console, err, fail
from englog.cli._calendar import Calendar, calendar_of
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.cli.progress import week_progress
from englog.cli.when import (
    entry_span,
    format_minutes,
    listing_range,
    parse_clock,
    pick_day,
)
from englog.client import Client, Entry, NotFound
from englog.client.models import ActivityType, ImpactLevel, Me, ValueRating
from englog.domain.localtime import clip, minutes_by_day, range_bounds, union_minutes

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


def one_line(entry: Entry, cal: Calendar | None = None) -> str:
    start, end = _local(entry.start_time, cal), _local(entry.end_time, cal)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %H:%M}"
    parts = [
        entry.id,
        f"{start:%a %Y-%m-%d %H:%M}-{until}",
        f"({format_minutes(entry.minutes)})",
        entry.type,
        entry.project or "-",
        entry.title,
    ]
    return "  ".join(str(p) for p in parts)


def _local(moment: datetime, cal: Calendar | None) -> datetime:
    return cal.local(moment) if cal is not None else moment.astimezone()


def print_saved(entry: Entry, cal: Calendar) -> None:
    """The entry on one line, then one warning line if the server had any (an overlap,
    an end in the future)."""
    console.print(one_line(entry, cal), highlight=False, markup=False, soft_wrap=True)
    if entry.warnings:
        err.print(f"warning: {'; '.join(entry.warnings)}", highlight=False, soft_wrap=True)


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
    It ends now unless --to says otherwise (--from 23:00 --to 01:00 ends the next day);
    times and days are in your account's zone (`englog me`); the project defaults to
    the last one used."""
    with connect(url, token) as client:
        cal = calendar_of(client)
        now = cal.now()
        try:
            day = pick_day(yesterday, on, now.date())
            span = entry_span(duration, start, end, day, now, cal.tz)
        except ValueError as exc:
            fail(str(exc))
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
    print_saved(entry, cal)


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
    """Your entries, this week by default, with the total of each day (local days in
    your account's zone; an entry across midnight counts on both days)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = (url, token)
        return
    with connect(url, token) as client:
        cal = calendar_of(client)
        try:
            first, last = listing_range(today, week, start, end, cal.today(), cal.week_start)
        except ValueError as exc:
            fail(str(exc))
        found = list(client.entries(first, last, project=project))
        me = _me(client) if not as_json and project is None else None
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in found], indent=2))
        return
    console.print(_table(found, first, last, cal))
    line = week_progress(found, first, last, cal, me)
    if line:
        console.print(line, highlight=False)


def _me(client: Client) -> Me | None:
    try:
        return client.me()
    except NotFound:  # a server without `/v1/me`: no target to show
        return None


def _table(found: list[Entry], first: date, last: date, cal: Calendar) -> Table | str:
    span = f"{first:%Y-%m-%d} to {last:%Y-%m-%d} ({cal.zone_name})"
    if not found:
        return f"no entries from {span}"
    by_day: dict[date, list[Entry]] = defaultdict(list)
    lived: dict[date, float] = defaultdict(float)
    for entry in found:
        by_day[cal.local(entry.start_time).date()].append(entry)
        for day, spent in minutes_by_day(entry.start_time, entry.end_time, cal.tz).items():
            if first <= day <= last:
                lived[day] += spent
    table = Table("day", "time", "took", "type", "project", title=f"entries {span}")
    table.add_column("title", ratio=1)
    table.add_column("id", no_wrap=True, style="dim")
    for day in sorted(set(by_day) | set(lived)):
        rows = by_day.get(day, [])
        for n, e in enumerate(rows):
            start, end = cal.local(e.start_time), cal.local(e.end_time)
            table.add_row(
                f"{day:%a %d}" if n == 0 else "",
                f"{start:%H:%M}-{end:%H:%M}",
                format_minutes(e.minutes),
                e.type,
                e.project or "",
                e.title,
                e.id[:SHORT_ID],
            )
        label = f"{day:%a %d}" if not rows else ""
        total = format_minutes(lived.get(day, 0.0))
        table.add_row(label, "[bold]total[/bold]", f"[bold]{total}[/bold]", end_section=True)
    logged = sum(lived.values())
    clock = union_minutes(_inside(found, first, last, cal))
    caption = f"{len(found)} entries, {format_minutes(logged)} in all"
    if logged - clock >= 1:
        caption += (
            f" ({format_minutes(logged - clock)} of it overlapping: "
            f"{format_minutes(clock)} of clock time)"
        )
    table.caption = caption + " (ids shortened: edit and rm take them)"
    return table


def _inside(
    found: list[Entry], first: date, last: date, cal: Calendar
) -> list[tuple[datetime, datetime]]:
    """The entries' spans cut to the listed days."""
    low, high = range_bounds(first, last, cal.tz)
    spans = (clip(e.start_time, e.end_time, low, high) for e in found)
    return [span for span in spans if span is not None]


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
        cal = calendar_of(client)
        entry_id = full_id(client, entry_id)
        if start or end:
            changes.update(_new_times(client.entry(entry_id), start, end, cal))
        entry = client.update_entry(entry_id, **changes)
    print_saved(entry, cal)


def _given(ctx: typer.Context, url: str | None, token: str | None) -> tuple[str | None, ...]:
    """--url/--token after the subcommand, else those given to `entries` before it."""
    before = ctx.obj or (None, None)
    return url or before[0], token or before[1]


def _new_times(
    entry: Entry, start: str | None, end: str | None, cal: Calendar
) -> dict[str, datetime]:
    """New times on the entry's own local day; an end before the start is the next day."""
    began = cal.local(entry.start_time)
    times: dict[str, datetime] = {}
    try:
        for key, text, option in (("start_time", start, "--from"), ("end_time", end, "--to")):
            if text:
                clock = parse_clock(text, option)
                moment = datetime.combine(began.date(), clock, cal.tz)
                times[key] = moment
    except ValueError as exc:
        fail(str(exc))
    new_start = times.get("start_time", entry.start_time)
    new_end = times.get("end_time")
    if new_end is not None and new_end <= new_start:
        times["end_time"] = new_end + timedelta(days=1)
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
