"""`englog users` (accounts, over REST as an admin; `users create --db` works on the
database itself) and `englog tokens` (your personal access tokens)."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from englog.cli._app import app, console, err, fail, users_app
from englog.cli._remote import TokenOpt, UrlOpt, connect, failing_cleanly
from englog.client import Account, Client, resolve

tokens_app = typer.Typer(help="Your personal access tokens.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

ROLES = ("member", "operator", "admin")
SQLITE_PREFIX = "sqlite:///"


def read_password(prompt: str = "Password", *, confirm: bool = False) -> str:
    """From the terminal (hidden), or the first line of stdin when it is not one."""
    if sys.stdin.isatty():
        value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        return value
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        fail("no password given: type it on a terminal or pipe it on stdin")
    return line


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _role(role: str) -> str:
    if role not in ROLES:
        fail(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


# --- users --------------------------------------------------------------------------------
@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="Account name (unique, any case)")],
    role: Annotated[str, typer.Option(help="member, operator or admin")] = "member",
    email: Annotated[str | None, typer.Option(help="Optional unique email")] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Ask for a password (stdin when piped)")
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(envvar="ENGLOG_DB", help="Work on this database instead of the server"),
    ] = None,
    init: Annotated[
        bool, typer.Option("--init", help="With --db: may create a new database file")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create an account and print its first API token (alone on the last line). Over
    REST with an admin token (ENGLOG_ADMIN_TOKEN makes the first admin), or on the
    database itself with --db."""
    name = name.strip()
    if not name:
        fail("user name must not be empty")
    role = _role(role)
    secret = read_password(confirm=True) if password else None
    if db is not None:
        new_token = _create_in_db(db, name, role, email, secret, init=init)
    elif not _has_token(url, token):
        fail(
            "no token to ask the server with: set ENGLOG_TOKEN to an admin's token "
            "(ENGLOG_ADMIN_TOKEN makes the first admin), or work on the database with --db URL"
        )
    else:
        with connect(url, token) as client:
            account = client.create_user(
                name, password=secret, role=role, email=email, with_token=True
            )
        new_token = account.token or ""
    err.print(f"created user {name!r} ({role}); keep this token, it is shown once:")
    print(new_token)


def _has_token(url: str | None, token: str | None) -> bool:
    with failing_cleanly():
        return bool(resolve(url, token).token)


def _create_in_db(
    db: str, name: str, role: str, email: str | None, password: str | None, *, init: bool
) -> str:
    from englog.domain.passwords import WeakPassword, hash_password
    from englog.domain.tokens import hash_token, new_token
    from englog.store import StoreError, open_store
    from englog.store.accounts import Conflict
    from englog.store.records import NewAccount

    if db.startswith(SQLITE_PREFIX) and not init:
        path = Path(db[len(SQLITE_PREFIX) :].split("?", 1)[0])
        if not path.exists():
            fail(
                f"no database at {path.resolve()}: pass the server's --db, "
                "or add --init to create a new one"
            )
    try:
        password_hash = None if password is None else hash_password(password)
    except WeakPassword as exc:
        fail(str(exc))
    token = new_token("eng_")
    account = NewAccount(
        name=name, password_hash=password_hash, email=email, role=role, token_hash=hash_token(token)
    )

    async def create() -> None:
        store = open_store(db)
        await store.open()
        try:
            await store.create_account(account, time.time())
        finally:
            await store.close()

    try:
        asyncio.run(create())
    except Conflict as exc:
        fail(f"a user named {name!r} already exists" if exc.field == "name" else str(exc))
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc))
    return token


def _find(client: Client, who: str) -> Account:
    users = client.users()
    for user in users:
        if user.id == who or user.name.lower() == who.lower() or (user.email or "") == who:
            return user
    fail(f"no user {who!r} (see `englog users list`)")


@users_app.command("list")
def users_list(url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Every account: name, role, state, email (admin)."""
    with connect(url, token) as client:
        users = client.users()
    for user in users:
        state = "disabled" if user.disabled else "active"
        console.print(
            f"{user.id}  {user.name:<20} {user.role:<9} {state:<9} {user.email or ''}",
            highlight=False,
            soft_wrap=True,
        )


def _change(who: str, url: str | None, token: str | None, **changes: object) -> Account:
    with connect(url, token) as client:
        return client.update_user(_find(client, who).id, **changes)


@users_app.command("disable")
def users_disable(
    who: Annotated[str, typer.Argument(help="Name, email or id")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Refuse the account everywhere from its next request on (tokens and web)."""
    user = _change(who, url, token, disabled=True)
    console.print(f"disabled {user.name}", highlight=False)


@users_app.command("enable")
def users_enable(
    who: Annotated[str, typer.Argument(help="Name, email or id")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Let a disabled account in again."""
    user = _change(who, url, token, disabled=False)
    console.print(f"enabled {user.name}", highlight=False)


@users_app.command("set-role")
def users_set_role(
    who: Annotated[str, typer.Argument(help="Name, email or id")],
    role: Annotated[str, typer.Argument(help="member, operator or admin")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Make an account a member, an operator (queue and workers) or an admin."""
    user = _change(who, url, token, role=_role(role))
    console.print(f"{user.name} is now {user.role}", highlight=False)


@users_app.command("delete")
def users_delete(
    who: Annotated[str, typer.Argument(help="Name, email or id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete an account with its entries, tasks, results, tokens and sessions."""
    with connect(url, token) as client:
        user = _find(client, who)
        if not yes and not typer.confirm(f"delete {user.name} and all of their data?"):
            fail("not deleted")
        client.delete_user(user.id)
    console.print(f"deleted {user.name}", highlight=False)


@users_app.command("invite")
def users_invite(
    role: Annotated[str, typer.Option(help="member, operator or admin")] = "member",
    hours: Annotated[int, typer.Option(min=1, max=720, help="Hours until it expires")] = 72,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """A one-time link that lets one person create their account (printed alone on the
    last line); it expires unused after --hours."""
    with connect(url, token) as client:
        link = client.create_invite(_role(role), expires_in_hours=hours)
    err.print(f"invite for one {role} account, valid {hours} h, usable once:")
    print(link)


# --- tokens -------------------------------------------------------------------------------
@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. ci or laptop")],
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, max=3650, help="Expire after N days")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """A new personal access token (printed alone on the last line, once)."""
    with connect(url, token) as client:
        made = client.create_token(name, expires_in_days=expires_days)
    err.print(f"created token {made.name!r} ({made.id}); keep it, it is shown once:")
    print(made.token)


@tokens_app.command("list")
def tokens_list(url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Your tokens: id, name, created, last used, expiry."""
    with connect(url, token) as client:
        found = client.tokens()
    console.print(f"{'ID':<32}  {'NAME':<20} {'CREATED':<20} {'LAST USED':<20} EXPIRES")
    for t in found:
        console.print(
            f"{t.id:<32}  {t.name:<20} {_when(t.created_at):<20} "
            f"{_when(t.last_used_at):<20} {_when(t.expires_at)}",
            highlight=False,
            soft_wrap=True,
        )


@tokens_app.command("revoke")
def tokens_revoke(
    which: Annotated[str, typer.Argument(help="Token id or name")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke a token: refused from its next request on."""
    with connect(url, token) as client:
        found = [t for t in client.tokens() if which in (t.id, t.name)]
        if not found:
            fail(f"no token {which!r} (see `englog tokens list`)")
        if len(found) > 1:
            fail(f"{len(found)} tokens are named {which!r}: revoke one by its id")
        client.revoke_token(found[0].id)
    console.print(f"revoked {found[0].name} ({found[0].id})", highlight=False)
