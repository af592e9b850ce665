"""Shared fixtures. PostgreSQL and Redis are real services on this machine.

Under pytest-xdist (`make test` runs `--dist loadgroup`), tests that must not overlap
each other share a group, and a group runs on one worker, one test at a time:
- `chaos`: every chaos test kills and cuts things on timing margins chosen for a
  machine that runs one of them at a time;
- `browser`: the browser tests share one server, worker and Chromium for the session,
  started once on the worker that runs them.
Everything else is independent (its own ports, bound to 0 or read back, its own
databases and temporary directories) and is spread over the workers."""

from __future__ import annotations

import pytest

SERIAL_GROUPS = ("chaos", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for group in SERIAL_GROUPS:
            if group in parts and "tests" in parts:
                item.add_marker(pytest.mark.xdist_group(group))
