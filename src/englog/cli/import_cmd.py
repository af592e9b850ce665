"""`englog import git` and `englog import ics`: draft entries from commits and calendar
events, shown first and logged on confirmation (`--yes` for scripts). Importing again
adds nothing: drafts name the commits and events they came from."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.table import Table
from typer.core import TyperGroup

from englog.cli._app import app, console, fail
from englog.cli._calendar import Calendar, calendar_of
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.cli._run import parse_duration
from englog.cli.when import format_minutes, parse_day
from englog.client import Client, ClientError, Entry
from englog.client.daily import account_email
from englog.domain.localtime import range_bounds
from englog.imports import git, ics
from englog.imports.drafts import Draft, markers


class _FileOrSource(TyperGroup):
    """`englog import FILE` (an export's CSV back, issue 23) beside `englog import git`
    and `englog import ics`: a first word that names no source is the file."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["csv", *args]
        return super().resolve_command(ctx, args)


import_app = typer.Typer(
    cls=_FileOrSource,
    help="Draft entries from your commits (git) or your calendar (ics), or take back an "
    "export's CSV (`englog import FILE`).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

DEFAULT_SINCE_DAYS = 14
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="First day, 2026-11-30 (default: 14 days ago)")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Log without asking")]


def _first_day(since: str | None, cal: Calendar) -> date:
    if since is None:
        return cal.today() - timedelta(days=DEFAULT_SINCE_DAYS)
    try:
        return parse_day(since, "--since")
    except ValueError as exc:
        fail(str(exc))


def _existing(client: Client, start: datetime, end: datetime) -> list[Entry]:
    """The user's entries around the imported range (a day either side)."""
    return list(client.entries(start - timedelta(days=1), end + timedelta(days=1)))


def _show_and_log(client: Client, drafts: list[Draft], cal: Calendar, yes: bool) -> None:
    if not drafts:
        console.print("nothing new to import")
        return
    table = Table("day", "time", "took", "type", "project", title=f"{len(drafts)} drafts")
    table.add_column("title", ratio=1)
    for d in drafts:
        start, end = cal.local(d.start), cal.local(d.end)
        table.add_row(f"{start:%a %Y-%m-%d}", f"{start:%H:%M}-{end:%H:%M}",
                      format_minutes(d.minutes), d.type, d.project or "", d.title)  # fmt: skip
    console.print(table)
    if not yes and not typer.confirm(f"log these {len(drafts)} entries?", default=False):
        console.print("nothing logged")
        return
    logged = client.log_many(d.body() for d in drafts)
    console.print(f"logged {len(logged)} entries")


def _span(text: str, option: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text, option))
    except ValueError as exc:
        fail(str(exc))


@import_app.command("git")
def import_git(
    paths: Annotated[list[Path] | None, typer.Argument(help="Repositories (default: .)")] = None,
    since: SinceOpt = None,
    author: Annotated[
        str | None, typer.Option("--author", help="Whose commits (default: git's user.email)")
    ] = None,
    lead: Annotated[
        str, typer.Option("--lead", help="Work before a session's first commit")
    ] = "30m",
    gap: Annotated[str, typer.Option("--gap", help="A longer pause starts a new session")] = "2h",
    yes: YesOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Sessions of commits as development entries: project from the repository's name,
    title from the commit subjects; time you already logged is left out."""
    lead_span, gap_span = _span(lead, "--lead"), _span(gap, "--gap")
    with connect(url, token) as client:
        cal = calendar_of(client)
        first = _first_day(since, cal)
        start, end = range_bounds(first, cal.today(), cal.tz)
        known = _existing(client, start, end)
        done = markers((e.description for e in known if git.GIT_TAG in e.tags), git.COMMIT_MARK)
        covered = [(e.start_time, e.end_time) for e in known]
        drafts: list[Draft] = []
        for path in paths or [Path(".")]:
            try:
                root = git.repository_root(path)
                who = author or git.default_author(root)
                commits = git.read_commits(root, start, who)
            except git.GitError as exc:
                fail(str(exc))
            fresh = [c for c in commits if c.sha[: git.SHA_LEN] not in done]
            found = git.drafts_from(root.name, fresh, covered, gap=gap_span, lead=lead_span)
            drafts += [_in_zone(d, cal) for d in found]
            covered += [(d.start, d.end) for d in found]
        _show_and_log(client, sorted(drafts, key=lambda d: d.start), cal, yes)


def _in_zone(draft: Draft, cal: Calendar) -> Draft:
    return Draft(draft.title, draft.type, cal.local(draft.start), cal.local(draft.end),
                 draft.project, draft.description, draft.tags)  # fmt: skip


@import_app.command("ics")
def import_ics(
    file: Annotated[Path, typer.Argument(help="An iCalendar file (.ics)")],
    since: SinceOpt = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day (default: today)")] = None,
    me: Annotated[
        str | None, typer.Option("--me", help="Your address: events you declined are skipped")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project")] = None,
    yes: YesOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Calendar events as meeting entries, in your account's zone: cancelled, all-day
    and declined events are skipped, and so are events imported before."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    with connect(url, token) as client:
        cal = calendar_of(client)
        first = _first_day(since, cal)
        last = parse_day(until, "--until") if until else cal.today()
        if last < first:
            fail("--until is before --since")
        start, end = range_bounds(first, last, cal.tz)
        known = _existing(client, start, end)
        done = markers((e.description for e in known if ics.ICS_TAG in e.tags), ics.EVENT_MARK)
        who = me or _account_email(client)
        try:
            events = ics.occurrences(ics.read_calendar(data), start, end)
        except ics.CalendarError as exc:
            fail(f"{file}: {exc}")
        drafts, skipped = ics.drafts_from(events, cal.tz, who, done)
        if until is None:  # not ended yet: not work done
            drafts = [d for d in drafts if d.end <= cal.now()]
        if project:
            drafts = [Draft(d.title, d.type, d.start, d.end, project, d.description, d.tags)
                      for d in drafts]  # fmt: skip
        _say_skipped(skipped, who)
        _show_and_log(client, drafts, cal, yes)


def _account_email(client: Client) -> str | None:
    """The account's email, on servers whose accounts have one (None otherwise: then
    declined events cannot be told apart without --me)."""
    try:
        return client.send(account_email())
    except ClientError:
        return None


def _say_skipped(skipped: ics.Skipped, me: str | None) -> None:
    parts = [f"{n} {name.replace('_', '-')}" for name, n in
             ((k, getattr(skipped, k)) for k in ics.Skipped.__dataclass_fields__) if n]  # fmt: skip
    if parts:
        console.print(f"skipped: {', '.join(parts)}", highlight=False)
    if me is None:
        console.print("no --me address: declined events cannot be told apart", highlight=False)
