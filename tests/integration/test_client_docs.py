"""Every Python example in docs/client.md runs, in order, against a real server and
worker, configured as a reader's would be (ENGLOG_URL and ENGLOG_TOKEN)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import REPO, base_env, cluster

EXAMPLE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def examples() -> list[str]:
    return EXAMPLE.findall((REPO / "docs" / "client.md").read_text())


def test_the_docs_have_examples() -> None:
    assert len(examples()) >= 6


def test_every_example_runs(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.start_server()
        token = c.create_user("reader")
        c.start_worker("w1")
        c.wait_workers_connected("w1")
        assert c.server is not None
        env = base_env(ENGLOG_URL=c.server.url, ENGLOG_TOKEN=token,
                       XDG_CONFIG_HOME=str(tmp_path / "config"))  # fmt: skip
        for n, code in enumerate(examples(), 1):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
            if out.returncode != 0:
                pytest.fail(f"example {n} failed:\n{code}\n{out.stderr[-2000:]}")
