"""Each package's public face: a sorted __all__ whose names all exist."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "englog.ai",
    "englog.client",
    "englog.domain",
    "englog.resilience",
    "englog.server",
    "englog.store",
    "englog.tasks",
    "englog.web",
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
        "web": {"englog.worker", "englog.protocol", "englog.client", "englog.cli"},
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


@pytest.mark.parametrize("name", ["englog.resilience", "englog.ai", "englog.ai.llm"])
def test_resilience_and_ai_load_no_grpc(name: str) -> None:
    """gRPC meaning lives in the worker (englog.worker.grpc_errors): the generic retry
    and breaker, and the AI clients built on them, must not pull grpc in."""
    import subprocess
    import sys

    # Every exported name is touched: the packages import them on first use.
    code = (
        f"import sys, {name} as m; [getattr(m, n) for n in getattr(m, '__all__', ())];"
        " print('grpc' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_every_englog_exception_has_the_one_root() -> None:
    """errors.py draws the tree; this checks nobody started a twelfth root."""
    import inspect
    import pkgutil

    import englog
    from englog.errors import EnglogError

    strays = []
    for info in pkgutil.walk_packages(englog.__path__, "englog."):
        if info.name.startswith(("englog.protocol", "englog.__main__")):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == info.name
                and issubclass(cls, BaseException)
                and not issubclass(cls, EnglogError)
            ):
                strays.append(f"{info.name}.{cls.__name__}")
    assert not strays, f"exceptions outside the EnglogError tree: {strays}"


# Modules whose every public class is part of their package's face.
FACES = {
    "englog.ai": ["backend", "builtin", "config", "errors", "schemas", "fallback", "llm"],
    "englog.resilience": ["backoff", "breaker", "retry"],
    "englog.tasks": ["base"],
}


@pytest.mark.parametrize("name", sorted(FACES))
def test_all_is_complete(name: str) -> None:
    """Users import `englog.ai.X`, not a file path: nothing public is left out."""
    import inspect

    package = importlib.import_module(name)
    for short in FACES[name]:
        module = importlib.import_module(f"{name}.{short}")
        public = {
            n
            for n, obj in vars(module).items()
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and not n.startswith("_")
        }
        missing = public - set(package.__all__)
        assert not missing, f"{name}.__all__ lacks {sorted(missing)} (from {short})"
