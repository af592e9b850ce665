"""The worker's parts keep their borders (issue 12): protobuf is converted only by the
session (and carried by its report stream), and the health port reads a status
snapshot without importing the worker."""

from __future__ import annotations

import ast
from pathlib import Path

import englog.worker

ROOT = Path(englog.worker.__file__).parent


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_the_session_speaks_protobuf() -> None:
    """The messages module, that is; the connection only builds the service stub."""
    speakers = {
        path.name for path in ROOT.glob("*.py") if "englog.protocol.worker_pb2" in imported(path)
    }
    assert speakers == {"session.py", "report_stream.py"}


def test_health_imports_only_the_status_of_the_worker() -> None:
    names = imported(ROOT / "health.py")
    ours = {n for n in names if n.startswith("englog.worker") and n.count(".") == 2}
    assert ours == {"englog.worker.status"}


def test_the_runner_takes_a_plain_assignment() -> None:
    assert not any(n.startswith("englog.protocol") for n in imported(ROOT / "runner.py"))
