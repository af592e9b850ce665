"""Which handlers a worker runs: the built-ins plus user modules (`--handlers`)."""

from __future__ import annotations

import importlib

from englog.errors import EnglogError
from englog.tasks import registry
from englog.tasks.base import HandlerRegistry


class HandlerLoadError(EnglogError):
    """A --handlers module could not be imported."""


def load_handlers(modules: list[str] | None = None) -> HandlerRegistry:
    """Import user modules so their `@handler` decorators fill the default registry."""
    for name in modules or []:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise HandlerLoadError(f"cannot import handler module {name!r}: {exc}") from exc
    return registry
