"""`englog projects` (list with totals, add, edit, rm) and `englog tags` (list, rename):
the people side of what entries name."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from englog.cli._app import app, console, fail
from englog.cli._remote import TokenOpt, UrlOpt, connect
from englog.client import Client

projects_app = typer.Typer(help="Your projects: list with totals, add, edit, rm.",
                           no_args_is_help=True)  # fmt: skip
tags_app = typer.Typer(help="Your tags: list with counts, rename or merge.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
app.add_typer(tags_app, name="tags")
STATUSES = ("active", "completed", "on_hold", "cancelled")


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{flag}: {text!r} is not a date like 2026-03-02")


def _hours(minutes: float) -> str:
    total = round(minutes)
    return f"{total // 60}h{total % 60:02d}"


def _project(client: Client, name: str) -> dict[str, Any]:
    for project in client.projects():
        if project["name"] == name or project["id"] == name:
            return project
    fail(f"no project {name!r} (see `englog projects list`)")


@projects_app.command("list")
def projects_list(
    start: Annotated[str | None, typer.Option("--from", help="First local day: totals")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last local day (included)")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Your projects (* marks the default); with --from/--to, the time logged in them."""
    first, last = _day(start, "--from"), _day(end, "--to")
    if (first is None) != (last is None):
        fail("give both --from and --to")
    with connect(url, token) as client:
        found = client.projects(first, last)
    for p in found:
        mark = "*" if p["is_default"] else " "
        total = "" if p.get("minutes") is None else f"{_hours(p['minutes']):>8}"
        console.print(
            f"{mark} {p['name']:<24} {p['status']:<10} {p.get('colour') or '':<8}{total}",
            highlight=False,
            soft_wrap=True,
        )


@projects_app.command("add")
def projects_add(
    name: Annotated[str, typer.Argument(help="Project name")],
    colour: Annotated[str | None, typer.Option(help="#rrggbb")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    default: Annotated[bool, typer.Option("--default", help="Use for entries without one")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a project."""
    with connect(url, token) as client:
        made = client.create_project(
            name, colour=colour, description=description, is_default=default or None
        )
    console.print(f"created project {made['name']}", highlight=False)


@projects_app.command("edit")
def projects_edit(
    name: Annotated[str, typer.Argument(help="Project name or id")],
    rename: Annotated[str | None, typer.Option("--name", help="New name (entries follow)")] = None,
    colour: Annotated[str | None, typer.Option(help="#rrggbb")] = None,
    status: Annotated[str | None, typer.Option(help=", ".join(STATUSES))] = None,
    description: Annotated[str | None, typer.Option()] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Rename, colour, describe, archive (--status completed) or make default."""
    if status is not None and status not in STATUSES:
        fail(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    with connect(url, token) as client:
        project = _project(client, name)
        changed = client.update_project(
            project["id"], name=rename, colour=colour, status=status,
            description=description, is_default=default or None,
        )  # fmt: skip
    console.print(f"project {changed['name']}: {changed['status']}", highlight=False)


@projects_app.command("rm")
def projects_rm(
    name: Annotated[str, typer.Argument(help="Project name or id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a project; its entries stay, without a project."""
    with connect(url, token) as client:
        project = _project(client, name)
        if not yes and not typer.confirm(f"delete project {project['name']}?"):
            fail("not deleted")
        client.delete_project(project["id"])
    console.print(f"deleted project {project['name']}", highlight=False)


@tags_app.command("list")
def tags_list(
    prefix: Annotated[str | None, typer.Argument(help="Only tags starting so")] = None,
    sort: Annotated[str, typer.Option(help="popular, recent or name")] = "popular",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Your tags with how many entries carry each."""
    if sort not in ("popular", "recent", "name"):
        fail(f"unknown sort {sort!r}: use popular, recent or name")
    with connect(url, token) as client:
        found = client.tags(prefix, sort=sort)
    for tag in found:
        console.print(f"{tag['count']:>5}  {tag['name']}", highlight=False, soft_wrap=True)


@tags_app.command("rename")
def tags_rename(
    old: Annotated[str, typer.Argument(help="The tag now")],
    new: Annotated[str, typer.Argument(help="Its new name (an existing tag: a merge)")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Rename a tag on every entry of yours, or merge it into another."""
    with connect(url, token) as client:
        changed = client.rename_tag(old, new)
    console.print(f"renamed {old!r} to {new!r} on {changed} entries", highlight=False)
