"""The `englog` Typer app, its command groups and the one-line error output every
command shares. Errors a user can cause (bad flag, refused connection, bad token) print
one line, never a traceback."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    help="englog: log your work, get AI insights and weekly reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
users_app = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)
tasks_app = typer.Typer(help="Submit and follow tasks over the REST API.", no_args_is_help=True)
certs_app = typer.Typer(help="Make TLS certificates for a server and its workers.",
                        no_args_is_help=True)  # fmt: skip
workers_app = typer.Typer(
    help="List workers (REST, admin token); create, list and revoke their own credentials"
    " (on the database).",
    invoke_without_command=True,
)
app.add_typer(users_app, name="users")
app.add_typer(workers_app, name="workers")
app.add_typer(tasks_app, name="tasks")
app.add_typer(certs_app, name="certs")

console = Console()
err = Console(stderr=True, soft_wrap=True)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("englog")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown (not installed)"
        print(f"englog {found}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """englog: log your work, get AI insights and weekly reports."""


def fail(message: str, code: int = 1) -> NoReturn:
    from englog.logs import redact  # secrets never reach a terminal or a CI log either

    err.print(f"[red]error:[/red] {redact(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


def main() -> None:
    """Entry point. Usage errors print one line (`error: ...`), not a panel, so scripts
    and logs get a message they can grep."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        code = 130
    except typer.TyperException as exc:  # typer's (vendored) click usage errors
        code = _usage_error(exc)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: Exception) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare `englog tasks`: show the help
        exc.show()  # type: ignore[attr-defined]
        return 0
    ctx = getattr(exc, "ctx", None)
    hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    err.print(f"error: {message}{hint}", highlight=False, markup=False)
    return int(getattr(exc, "exit_code", 2))
