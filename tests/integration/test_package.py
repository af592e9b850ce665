"""The package as a newcomer gets it: the wheel and sdist built from this tree, the wheel
installed in a clean venv (runtime dependencies only, from the configured package
index), and `englog up` run from there to a first logged entry that survives a restart.

About 30 s (build 6 s, install 15 s): one test module-scoped venv serves every test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import REPO, free_port
from tests.support.up import API_TOKEN, URL, UpProc, home_env

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def run(argv: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], timeout=240)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean venv (no system site-packages) with the wheel and its dependencies."""
    where = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(where, with_pip=True, clear=True)
    wheel = next(dist.glob("englog-*.whl"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
              timeout=240, env=env)  # fmt: skip
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    yield where / "bin"


def test_wheel_and_sdist_carry_the_package_data(dist: Path) -> None:
    wheel = next(dist.glob("englog-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "englog/data/sample_week.json",
        "englog/store/migrations/sqlite_0001_initial.sql",
        "englog/web/templates/signin.html",
        "englog/py.typed",
    ):
        assert needed in names
    assert not any(n.startswith("tests/") for n in names)
    sdist = next(dist.glob("englog-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
    assert any(m.endswith("/pyproject.toml") for m in members)
    assert any(m.endswith("/src/englog/cli/up_cmd.py") for m in members)


def test_runtime_only_version_and_completion(installed: Path, tmp_path: Path) -> None:
    env = home_env(tmp_path)
    version = run([str(installed / "englog"), "--version"], timeout=60, env=env, cwd=tmp_path)
    assert version.returncode == 0, version
    assert version.stdout.strip().startswith("englog 0.")
    # Runtime only: the dev tools are not pulled in by the wheel.
    probe = run([str(installed / "python"), "-c", "import pytest"], timeout=60, env=env)
    assert probe.returncode != 0
    complete = run(
        [str(installed / "englog")],
        timeout=60,
        cwd=tmp_path,
        env={**env, "_ENGLOG_COMPLETE": "complete_bash", "COMP_WORDS": "englog lo",
             "COMP_CWORD": "1"},
    )  # fmt: skip
    assert complete.returncode == 0, complete
    assert {"log", "login", "logout"} <= set(complete.stdout.split())


def test_englog_up_from_the_wheel_keeps_a_logged_entry_across_a_restart(
    installed: Path, tmp_path: Path
) -> None:
    env = home_env(tmp_path / "home")
    englog = str(installed / "englog")
    port = str(free_port())

    def start() -> UpProc:
        return UpProc([englog, "up", "--port", port], env).start()

    first = start()
    try:
        first.wait_for(URL)
        token = first.wait_for(API_TOKEN)
        logged = run([englog, "log", "First entry from the wheel", "25m"], 60, env=env,
                     cwd=tmp_path)  # fmt: skip
        assert logged.returncode == 0, logged
    finally:
        assert first.stop() == 0, first.output()

    again = start()
    try:
        assert again.wait_for(API_TOKEN) == token
        listed = run([englog, "entries", "--json"], 60, env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed
        assert [e["title"] for e in json.loads(listed.stdout)] == ["First entry from the wheel"]
    finally:
        assert again.stop() == 0, again.output()
