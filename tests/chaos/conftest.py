"""Chaos-test fixtures. Each test runs its cluster in `tests.support.procs.cluster`
(every process killed at the end, however the test ends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print past pytest's capture, so `make test` shows the figures to quote."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    return emit
