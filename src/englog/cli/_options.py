"""Commands whose flags are a dataclass: each field (an `Annotated[..., typer.Option]`
with its default) is one flag, and the command receives one frozen options object
instead of dozens of loose arguments. Typer reads the generated signature."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

Opts = TypeVar("Opts")


def command_from(options: type[Opts]) -> Callable[[Callable[[Opts], None]], Callable[..., None]]:
    """Decorate `run(opts: options)` into a Typer command taking the fields as flags;
    the command keeps `run`'s name and docstring (its help text)."""
    hints = typing.get_type_hints(options, include_extras=True)
    parameters = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
        )
        for f in dataclasses.fields(options)  # type: ignore[arg-type]
    ]

    def decorate(run: Callable[[Opts], None]) -> Callable[..., None]:
        @functools.wraps(run)
        def command(**values: Any) -> None:
            run(options(**values))

        del command.__wrapped__  # Typer must see the flags, not run's one argument
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command

    return decorate
