"""Each package's public face: a sorted __all__ whose names all exist."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "englog.domain",
    "englog.resilience",
    "englog.server",
    "englog.store",
    "englog.tasks",
    "englog.worker",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is listed but missing"


def test_layers_do_not_import_each_other() -> None:
    """DESIGN: server and worker meet only in protocol; domain imports nothing of englog."""
    import ast
    from pathlib import Path

    root = Path(importlib.import_module("englog").__file__).parent  # type: ignore[arg-type]
    rules = {
        "server": {"englog.worker"},
        "worker": {"englog.server"},
        "domain": {"englog.server", "englog.worker", "englog.store", "englog.ai", "englog.tasks"},
        "store": {"englog.server", "englog.worker", "englog.ai", "englog.tasks"},
        "ai": {"englog.server", "englog.worker", "englog.protocol", "englog.store"},
        "resilience": {"englog.server", "englog.worker", "englog.store", "englog.ai"},
    }
    for package, forbidden in rules.items():
        for path in (root / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for n in names:
                    assert not any(n == f or n.startswith(f + ".") for f in forbidden), (
                        f"{path.relative_to(root)} imports {n}"
                    )
