"""Issue 12: no import cycle between englog's modules (imports under TYPE_CHECKING aside),
and no module or function grows past what a reader holds in the head."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(importlib.import_module("englog").__file__).parent.parent  # type: ignore[arg-type]
GENERATED = "protocol"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in (ROOT / "englog").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _targets(node: ast.ImportFrom, module: str, path: Path, known: dict[str, Path]) -> list[str]:
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    subs = [f"{base}.{alias.name}" for alias in node.names]
    # `from pkg import submodule` depends on the submodule, not on pkg's other names.
    return subs if all(s in known for s in subs) else [base, *(s for s in subs if s in known)]


def _imports(body: list[ast.stmt], module: str, path: Path, known: dict[str, Path]) -> set[str]:
    out: set[str] = set()
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.update(_targets(node, module, path, known))
        elif isinstance(node, ast.If | ast.Try):
            out |= _imports(node.body + node.orelse, module, path, known)
    return {name for name in out if name in known and name != module}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {
        name: _imports(ast.parse(path.read_text()).body, name, path, known)
        for name, path in known.items()
    }


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return [*trail, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles = [c for name in graph if (c := _cycle_from(name, graph))]
    assert not cycles, f"import cycle: {' -> '.join(cycles[0])}"


def test_modules_and_functions_stay_small() -> None:
    too_big: list[str] = []
    for name, path in _modules().items():
        if f".{GENERATED}" in name:
            continue
        source = path.read_text()
        if (lines := len(source.splitlines())) > MAX_MODULE_LINES:
            too_big.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{name}.{node.name}: {length} lines")
    assert not too_big, too_big
