"""What the REST commands share: the `--url`/`--token` flags and a client whose every
error becomes one line saying what to do (`englog.client` raises, this prints)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer

from englog.cli._app import fail
from englog.client import (
    ApiError,
    Client,
    ClientError,
    ConfigError,
    Forbidden,
    NotFound,
    ServerUnreachable,
    TaskFailed,
    Timeout,
    Unauthorized,
    ValidationFailed,
)

UrlOpt = Annotated[
    str | None,
    typer.Option(envvar="ENGLOG_URL", help="Server REST URL (default: saved by login)"),
]
TokenOpt = Annotated[
    str | None, typer.Option(envvar="ENGLOG_TOKEN", help="API token (default: saved by login)")
]


def explain(exc: ClientError) -> str:
    """One line: what went wrong and what to do about it."""
    if isinstance(exc, Unauthorized) and "password" in exc.message:
        return exc.message
    if isinstance(exc, Unauthorized):
        return (
            f"the server refused the token ({exc.message}); "
            "run `englog login --url URL --token TOKEN` with a valid one"
        )
    if isinstance(exc, ValidationFailed) and exc.errors:
        return "; ".join(
            f"{e.field.removeprefix('body.').removeprefix('query.')}: {e.message}"
            for e in exc.errors
        )
    if isinstance(exc, NotFound | Forbidden | ValidationFailed):
        return exc.message
    if isinstance(exc, ApiError):
        return f"{exc.status} {exc.code}: {exc.message}"
    if isinstance(exc, Timeout) and exc.pending:
        return f"{exc}; it keeps running: follow it with `englog tasks watch {exc.pending[0]}`"
    return str(exc)


@contextlib.contextmanager
def failing_cleanly() -> Iterator[None]:
    """Client errors inside become `error: ...` and exit 1 (2 for a failed task)."""
    try:
        yield
    except TaskFailed as exc:
        fail(str(exc), 2)
    except (ConfigError, ServerUnreachable) as exc:
        fail(str(exc))
    except ClientError as exc:
        fail(explain(exc))


@contextlib.contextmanager
def connect(url: str | None, token: str | None, timeout: float = 15.0) -> Iterator[Client]:
    """A client for one command, closed after it; its errors fail cleanly."""
    with failing_cleanly():
        client = Client(url, token, timeout=timeout)
        try:
            yield client
        finally:
            client.close()
