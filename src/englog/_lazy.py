"""Package attributes imported on first use (PEP 562 `__getattr__`), so that importing
one light module of a package (`englog.ai.schemas`, `englog.resilience.backoff`) does not
run the imports of everything the package exports. The standard library has no helper
for this and `lazy_loader` would be a dependency for ten lines."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`: each name in `modules` (module -> names) is read
    from its module when first asked for."""
    home = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home[name]), name)

    return __getattr__
