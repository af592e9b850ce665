"""`englog start`, `stop`, `status` and `continue`: the running timer, kept by the server
(closing the terminal or restarting the server does not lose it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer

from englog.cli._app import app, console, err, fail
from englog.cli._calendar import Calendar, calendar_of
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.cli.entries_cmd import (
    LAST_PROJECT_DAYS,
    ProjectOpt,
    TagOpt,
    TypeOpt,
    full_id,
    last_project,
    print_saved,
)
from englog.cli.when import format_minutes, parse_clock
from englog.client import ApiError, Client
from englog.client.daily import Timer
from englog.client.models import Entry

AtOpt = Annotated[
    str | None, typer.Option("--at", help="The time instead of now, 09:10 (the latest past one)")
]


def past_clock(text: str, option: str, cal: Calendar) -> datetime:
    """The latest moment at that wall-clock time that is not in the future (so `--at
    23:30` the morning after means last night)."""
    try:
        clock = parse_clock(text, option)
    except ValueError as exc:
        fail(str(exc))
    now = cal.now()
    moment = datetime.combine(now.date(), clock.replace(second=0, microsecond=0), cal.tz)
    if moment > now:
        moment = datetime.combine(now.date() - timedelta(days=1), clock, cal.tz)
    return moment


def describe(timer: Timer, cal: Calendar) -> str:
    since = cal.local(timer.start_time)
    day = "" if since.date() == cal.today() else f"{since:%a %d} "
    what = ", ".join(p for p in (timer.type, timer.project) if p)
    return (
        f"{timer.title} ({what}) since {day}{since:%H:%M}: {format_minutes(timer.elapsed_minutes)}"
    )


def _warn(timer: Timer) -> None:
    for line in timer.warnings:
        err.print(f"warning: {line}", highlight=False, soft_wrap=True)


@app.command("start")
def start(
    title: Annotated[str, typer.Argument(help="What you are working on")],
    project: ProjectOpt = None,
    type: TypeOpt = None,
    tag: TagOpt = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    at: AtOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Start a timer: `englog start "Fix the login bug" -p atlas -t debugging`. A timer
    already running is stopped and logged first. The project defaults to the last one."""
    with connect(url, token) as client:
        cal = calendar_of(client)
        if project is None:
            project = last_project(client, cal.now())
        begin = past_clock(at, "--at", cal) if at else None
        _start(client, cal, title, type=type, project=project, tags=tag or None,
               description=description, start_time=begin)  # fmt: skip


def _start(client: Client, cal: Calendar, title: str, **fields: object) -> None:
    try:
        answer = client.start_timer(title, **fields)
    except ApiError as exc:
        if exc.code == "timer_too_long":
            fail(f"{exc.message} (englog stop --at HH:MM, --keep or --discard)")
        raise
    if answer.stopped is not None:
        console.print("stopped:", highlight=False)
        print_saved(answer.stopped, cal)
    console.print(f"started: {describe(answer.timer, cal)}", highlight=False, markup=False)


@app.command("stop")
def stop(
    at: AtOpt = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Log all of a timer that ran over 12 hours")
    ] = False,
    discard: Annotated[bool, typer.Option("--discard", help="Drop it; log nothing")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Stop the timer and log it as an entry (ending now, or --at 17:30)."""
    with connect(url, token) as client:
        cal = calendar_of(client)
        end = past_clock(at, "--at", cal) if at else None
        try:
            answer = client.stop_timer(end, keep_long=keep, discard=discard)
        except ApiError as exc:
            if exc.code == "timer_too_long":
                fail(f"{exc.message} (englog stop --at HH:MM, --keep or --discard)")
            if exc.status == 404:
                fail("no timer is running (start one: englog start TITLE)")
            raise
    if answer.entry is None:
        console.print(f"discarded: {answer.timer.title}", highlight=False, markup=False)
        return
    print_saved(answer.entry, cal)


@app.command("status")
def status(url: UrlOpt = None, token: TokenOpt = None) -> None:
    """What the timer is running, since when, for how long."""
    with connect(url, token) as client:
        cal = calendar_of(client)
        timer = client.timer()
    if timer is None:
        console.print("no timer is running")
        return
    console.print(f"running: {describe(timer, cal)}", highlight=False, markup=False)
    _warn(timer)


@app.command("continue")
def continue_(
    entry_id: Annotated[
        str | None, typer.Argument(help="The entry to go on with (default: the latest)")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Start a timer like an earlier entry (same title, type, project, tags)."""
    with connect(url, token) as client:
        cal = calendar_of(client)
        earlier = client.entry(full_id(client, entry_id)) if entry_id else _latest(client, cal)
        _start(client, cal, earlier.title, type=earlier.type, project=earlier.project,
               tags=earlier.tags or None, description=earlier.description,
               value_rating=earlier.value_rating, impact_level=earlier.impact_level)  # fmt: skip


def _latest(client: Client, cal: Calendar) -> Entry:
    now = cal.now()
    recent = list(client.entries(now - timedelta(days=LAST_PROJECT_DAYS), now + timedelta(1)))
    latest = max(recent, key=lambda e: e.end_time, default=None)
    if latest is None:
        fail(f"no entry in the past {LAST_PROJECT_DAYS} days to continue: give its id")
    return latest
