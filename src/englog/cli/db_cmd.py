"""`englog db backup|restore|migrate`: the database outside the server (see
`englog.store.maintenance`). Without --db (or ENGLOG_DB) they work on `englog up`'s
database in the user's data directory."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from englog.cli._app import app, console, fail

db_app = typer.Typer(help="Back up, restore and upgrade the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DbOpt = Annotated[
    str | None,
    typer.Option(
        envvar="ENGLOG_DB",
        help="Store URL (default: the database `englog up` keeps in your data directory)",
    ),
]


def _url(db: str | None) -> str:
    if db:
        return db
    from englog.up import DB_FILE, data_dir

    return f"sqlite:///{data_dir() / DB_FILE}"


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


@db_app.command("backup")
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (replaced if there)")],
    db: DbOpt = None,
) -> None:
    """Copy a SQLite database while the server runs (SQLite's online backup): a
    consistent, checked, single-file snapshot. PostgreSQL: use pg_dump."""
    from englog.store.maintenance import MaintenanceError
    from englog.store.maintenance import backup as run_backup

    url = _url(db)
    try:
        checked = run_backup(url, file)
    except MaintenanceError as exc:
        fail(str(exc))
    console.print(
        f"backed up {url} to {file}: {checked.entries} entries, {checked.tasks} tasks, "
        f"schema {checked.schema_version}, {_size(checked.size_bytes)}",
        highlight=False,
        soft_wrap=True,
    )


@db_app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="A backup written by `englog db backup`")],
    db: DbOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing database (server stopped)")
    ] = False,
) -> None:
    """Put a backup in place of the database; stop the server first. Newer schema
    migrations run when the server starts (or with `englog db migrate`)."""
    from englog.store.maintenance import MaintenanceError, sqlite_path
    from englog.store.maintenance import restore as run_restore
    from englog.up import LOCK_FILE, UpError, exclusive

    url = _url(db)
    try:
        target_dir = sqlite_path(url).parent
        # An `englog up` on this database holds its lock: hold it too, or refuse.
        held = exclusive(target_dir) if (target_dir / LOCK_FILE).exists() else nullcontext()
        with held:
            checked = run_restore(file, url, force=force)
    except (MaintenanceError, UpError) as exc:
        fail(str(exc))
    console.print(
        f"restored {file} into {url}: {checked.entries} entries, {checked.tasks} tasks",
        highlight=False,
        soft_wrap=True,
    )


@db_app.command("migrate")
def migrate(
    db: DbOpt = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Only list pending migrations; exit 1 when there are any"),
    ] = False,
) -> None:
    """Apply the schema migrations this version brings (servers also do at start);
    with --check, say which are pending without changing anything."""
    from englog.store.maintenance import MaintenanceError, pending_migrations
    from englog.store.maintenance import migrate as run_migrate

    url = _url(db)
    try:
        if check:
            pending = asyncio.run(pending_migrations(url))
            for name in pending:
                console.print(f"pending: {name}", highlight=False)
            if pending:
                raise typer.Exit(1)
            console.print(f"{url}: schema up to date", highlight=False, soft_wrap=True)
            return
        applied = asyncio.run(run_migrate(url))
    except (MaintenanceError, ValueError) as exc:
        fail(str(exc))
    for name in applied:
        console.print(f"applied: {name}", highlight=False)
    console.print(f"{url}: schema up to date", highlight=False, soft_wrap=True)
