"""`englog login`, `logout` and `whoami`: the server URL and token saved in the user's
config file (mode 0600), so the other commands need neither flag."""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Annotated

import typer

from englog.cli._app import app, console, fail
from englog.cli._calendar import machine_zone_name
from englog.cli._remote import TokenOpt, UrlOpt, connect, failing_cleanly
from englog.client import (
    Client,
    Forbidden,
    NotFound,
    config_path,
    read_config,
    resolve,
    token_with_password,
    write_config,
)


def _role(client: Client) -> str:
    """Check the token with a request any caller may make, then tell a user's token
    from the admin's (which owns no entries)."""
    client.tasks(limit=1)
    try:
        next(iter(client.entries()), None)
    except Forbidden:
        return "the admin token"
    try:
        me = client.me()
    except NotFound:  # a server from before /v1/me
        return "a user token"
    return f"a user token ({me.name}, {me.role})"


def _masked(token: str) -> str:
    return token[:8] + "…" if len(token) > 12 else "…"


@app.command()
def login(
    url: Annotated[str, typer.Option(envvar="ENGLOG_URL", help="Server REST URL")] = (
        "http://127.0.0.1:8080"
    ),
    token: Annotated[
        str | None,
        typer.Option(envvar="ENGLOG_TOKEN", help="API token (asked for on a terminal)"),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Sign in with your account name (or email) and password: a new token "
            "named after this machine is made and saved (no copy-paste)",
        ),
    ] = None,
) -> None:
    """Check a token against the server and save both for the other commands (with
    --name: ask for the password and make a token for this machine)."""
    if name is not None:
        token = _token_by_password(url, name)
    if not token and sys.stdin.isatty():
        token = typer.prompt("API token", hide_input=True)
    if not token or not token.strip():
        fail("no token given: englog login --url URL --token TOKEN (from `englog users create`)")
    with connect(url, token.strip()) as client:
        role = _role(client)
        zone_note = _adopt_machine_zone(client) if role.startswith("a user token") else None
    with failing_cleanly():
        saved = read_config()
        saved.update(url=url.rstrip("/"), token=token.strip())
        path = write_config(saved)
    console.print(f"logged in to {url} with {role}; saved in {path}", soft_wrap=True)
    if zone_note:
        console.print(zone_note, highlight=False, soft_wrap=True)


def _token_by_password(url: str, name: str) -> str:
    from englog.cli.accounts_cmd import read_password

    if not name.strip():
        fail("--name needs your account name or email")
    password = read_password()
    machine = socket.gethostname() or "this machine"
    with failing_cleanly():
        made = token_with_password(url, name.strip(), password, f"englog CLI on {machine}")
    return made.token


def _adopt_machine_zone(client: Client) -> str | None:
    """An account with no zone yet takes this machine's (saying so); one that has a zone
    keeps it. None when there is nothing to say."""
    try:
        me = client.me()
    except NotFound:  # a server from before /v1/me
        return None
    if me.timezone_set:
        return None
    local = machine_zone_name()
    if local is None:
        return "your account's time zone is UTC; set yours with `englog me --tz Europe/Berlin`"
    client.update_me(timezone=local)
    return f"time zone set to {local} (this machine's); change it with `englog me --tz ZONE`"


@app.command()
def me(
    tz: Annotated[
        str | None, typer.Option("--tz", help="Set your time zone, an IANA name: Europe/Berlin")
    ] = None,
    week_start: Annotated[
        str | None, typer.Option("--week-start", help="Set the first day of your week: monday")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Your account: name, time zone and week start (`--tz` and `--week-start` set them).
    Every date and time you log or list is in this zone, whatever the machine's."""
    with connect(url, token) as client:
        if tz is not None or week_start is not None:
            found = client.update_me(
                timezone=tz, week_start=week_start.lower() if week_start else None
            )
        else:
            found = client.me()
    zone = found.timezone + ("" if found.timezone_set else " (not set: UTC)")
    console.print(f"name        {found.name}", highlight=False)
    console.print(f"role        {found.role}", highlight=False)
    if found.email:
        console.print(f"email       {found.email}", highlight=False)
    console.print(f"time zone   {zone}", highlight=False)
    console.print(f"week starts {found.week_start}", highlight=False)


@app.command()
def logout() -> None:
    """Forget the saved token (the URL stays for the next login)."""
    with failing_cleanly():
        saved = read_config()
    if "token" not in saved:
        console.print("not logged in")
        return
    del saved["token"]
    path = config_path()
    with failing_cleanly(), contextlib.suppress(FileNotFoundError):
        write_config(saved, path)
    console.print(f"logged out: removed the token from {path}", soft_wrap=True)


@app.command()
def whoami(url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Which server and token the commands use, and whether the server accepts it."""
    with failing_cleanly():
        settings = resolve(url, token)
    if not settings.token:
        fail("not logged in: run `englog login --url URL --token TOKEN` or set ENGLOG_TOKEN")
    with connect(settings.url, settings.token) as client:
        role = _role(client)
    console.print(
        f"server {settings.url} (from {settings.url_source})", highlight=False, soft_wrap=True
    )
    console.print(
        f"token  {_masked(settings.token)} (from {settings.token_source}): {role}",
        highlight=False,
        soft_wrap=True,
    )
