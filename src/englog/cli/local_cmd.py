"""Commands that run in this process, not over REST: `demo` (`users create --db` is in
accounts_cmd)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from englog.cli._app import app, console
from englog.logs import configure_logging


@app.command()
def demo(
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="After the scenario keep the server and worker up for the web app, "
            "print its URL and tokens, and stop on Ctrl-C",
        ),
    ] = False,
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="HTTP port with --serve (0: any free port)"),
    ] = 8080,
    log_level: Annotated[str, typer.Option(envvar="ENGLOG_LOG_LEVEL")] = "warning",
) -> None:
    """Server and worker in one process on a temporary database: load a sample week,
    generate an insight and a weekly report, show them, shut down (with --serve: stay
    up for the web app until Ctrl-C)."""
    configure_logging(log_level)
    if serve:
        code = _serve_demo(port)
    else:
        from englog.demo import run_demo

        code = asyncio.run(run_demo(console))
    raise typer.Exit(code)


def _serve_demo(port: int) -> int:
    """The demo under the long-running commands' signal handling: the first SIGINT or
    SIGTERM stops it cleanly (exit 0), a second at once; a taken port is one line."""
    from englog.cli._run import run_until_signal
    from englog.demo import serve_demo

    codes: list[int] = []

    async def main(stop: asyncio.Event) -> None:
        codes.append(await serve_demo(console, stop, port))

    run_until_signal(main)
    return codes[0] if codes else 1
