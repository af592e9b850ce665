"""Shared fixtures. PostgreSQL and Redis are real services on this machine.

`make test` runs the suite on pytest-xdist workers with `--dist loadgroup`, scheduled by
`GroupScheduling` below: tests that must not overlap, or that share something costly,
form one unit of work, run on one worker one after another:
- `chaos`: every chaos test kills and cuts things on timing margins chosen for a
  machine that runs one of them at a time;
- `browser`: the browser tests share one server, worker and Chromium for the session,
  started once on the worker that runs them;
- a module with a module-scoped fixture (a server, a built package) keeps its tests
  together, so the fixture is made once, not once per worker (a module that sets
  `SPREAD_OVER_WORKERS = True` is spread anyway, as the OpenAPI fuzzing's shards).
Everything else is independent (its own ports, bound to 0 and read back or picked by
`free_port()` outside the ephemeral range, its own databases and temporary
directories) and is spread over the workers.

Why our own scheduler: xdist's `xdist_group` marks did not group anything with the
versions pinned here (pytest 9.2, pytest-xdist 3.8: the workers' node ids came back
without their group suffix), and a scheduler that decides from the node id alone
cannot be undone by hook order."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

SERIAL_GROUPS = ("chaos", "browser")


class GroupScheduling(LoadScopeScheduling):
    """xdist's scope scheduling (largest units first), with the units above."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self._root = Path(config.rootpath)

    def _split_scope(self, nodeid: str) -> str:
        return work_unit(self._root, nodeid)


def work_unit(root: Path, nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    folders = path.split("/")[:-1]
    group = next((g for g in SERIAL_GROUPS if g in folders), None)
    if group is not None:
        return group
    return path if _keeps_together(root / path) else nodeid


@functools.cache
def _keeps_together(module: Path) -> bool:
    try:
        source = module.read_text()
    except OSError:
        return False
    return 'scope="module"' in source and "SPREAD_OVER_WORKERS = True" not in source


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    if config.getvalue("dist") != "loadgroup":
        return None  # xdist's own
    return GroupScheduling(config, log)
