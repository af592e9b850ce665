"""`englog up`: server, worker and AI for one person, on a database in the user's data
directory (see `englog.up`)."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer

from englog.cli._app import app, console, fail
from englog.cli._run import run_until_signal, use_posix_grpc_endpoints
from englog.logs import configure_logging


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "me"


@app.command()
def up(
    port: Annotated[
        int,
        typer.Option(envvar="ENGLOG_PORT", min=0, max=65535, help="HTTP port on 127.0.0.1"),
    ] = 8080,
    user: Annotated[
        str | None,
        typer.Option(envvar="ENGLOG_USER", help="Account name on the first run (default: login)"),
    ] = None,
    ai: Annotated[str, typer.Option(envvar="ENGLOG_AI", help="builtin|ollama|openai")] = (
        "builtin"
    ),
    model: Annotated[str, typer.Option(envvar="ENGLOG_MODEL", help="Model for --ai ollama")] = (
        "llama3.2:3b"
    ),
    ollama_url: Annotated[
        str, typer.Option(envvar="ENGLOG_OLLAMA_URL", help="LLM server URL")
    ] = "http://127.0.0.1:11434",
    ai_fallback: Annotated[
        str,
        typer.Option(
            envvar="ENGLOG_AI_FALLBACK", help="While the LLM is down: wait or degrade (builtin)"
        ),
    ] = "degrade",
    log_level: Annotated[str, typer.Option(envvar="ENGLOG_LOG_LEVEL")] = "warning",
) -> None:
    """Run englog for yourself: server, worker and AI in one process on 127.0.0.1, data
    kept in your data directory (ENGLOG_DATA_DIR to choose another). The first run
    creates your account and signs the CLI in; stop with Ctrl-C."""
    use_posix_grpc_endpoints()
    from englog.up import UpError, UpOptions, run_up

    configure_logging(log_level)
    name = (user or _default_user()).strip()
    if not name:
        fail("--user must not be empty")
    opts = UpOptions(
        port=port, user=name, ai=ai, model=model, ollama_url=ollama_url, ai_fallback=ai_fallback
    )

    async def main(stop: asyncio.Event) -> None:
        try:
            await run_up(console, opts, stop)
        except (UpError, ValueError) as exc:
            fail(str(exc))

    run_until_signal(main)
