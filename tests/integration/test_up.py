"""`englog up` as a newcomer runs it: real processes in a throwaway home. The first run
creates the account and signs the CLI in, `englog log` works at once, a restart finds
the same data, and the mistakes a user can make are one line each."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.procs import REPO, free_port
from tests.support.up import ADMIN_TOKEN, API_TOKEN, URL, UpProc, home_env

pytestmark = pytest.mark.timeout(120)


def englog(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = home_env(home, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "englog", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_up(home: Path, *flags: str) -> UpProc:
    env = home_env(home, PYTHONPATH=str(REPO))
    return UpProc([sys.executable, "-m", "englog", "up", *flags], env).start()


def test_first_run_signs_the_cli_in_and_a_restart_keeps_the_data(tmp_path: Path) -> None:
    port = free_port()
    first = start_up(tmp_path, "--port", str(port), "--user", "ada")
    try:
        url = first.wait_for(URL)
        token = first.wait_for(API_TOKEN)
        admin = first.wait_for(ADMIN_TOKEN)
        assert url == f"http://127.0.0.1:{port}"
        assert "(new)" in first.output()
        logged = englog(tmp_path, "log", "Wrote the design doc", "20m", "-p", "atlas")
        assert logged.returncode == 0, logged
        # The worker is up beside the server: a report completes.
        report = englog(tmp_path, "report", "--format", "json", timeout=90)
        assert report.returncode == 0, report
        assert json.loads(report.stdout)["backend"] == "builtin"
        signin = httpx.get(f"{url}/app/signin", timeout=10)
        assert signin.status_code == 200
        workers = httpx.get(
            f"{url}/v1/workers", headers={"Authorization": f"Bearer {admin}"}, timeout=10
        )
        assert [w["connected"] for w in workers.json()["workers"]] == [True]
    finally:
        code = first.stop()
    assert code == 0, first.output()

    config = (tmp_path / "config" / "englog" / "config.toml").read_text()
    assert token in config and f"http://127.0.0.1:{port}" in config
    data = tmp_path / "data" / "englog"
    assert (data / "englog.db").exists()
    assert (data / "up.json").stat().st_mode & 0o077 == 0

    again_port = free_port()  # another port: the saved URL follows it
    again = start_up(tmp_path, "--port", str(again_port))
    try:
        assert again.wait_for(API_TOKEN) == token
        assert "(new)" not in again.output()
        listed = englog(tmp_path, "entries", "--json")
        assert listed.returncode == 0, listed
        assert [e["title"] for e in json.loads(listed.stdout)] == ["Wrote the design doc"]
    finally:
        assert again.stop() == 0, again.output()


def test_a_second_up_on_the_same_data_and_a_taken_port_are_one_line(tmp_path: Path) -> None:
    running = start_up(tmp_path, "--port", str(free_port()))
    try:
        running.wait_for(URL)
        second = englog(tmp_path, "up", "--port", str(free_port()))
        assert second.returncode == 1
        assert "Traceback" not in second.stderr
        assert "already running" in second.stderr
        # Its database (the db commands' default) backs up while serving, and is not
        # restored over while it runs.
        backup = englog(tmp_path, "db", "backup", str(tmp_path / "backup.db"))
        assert backup.returncode == 0, backup
        restore = englog(tmp_path, "db", "restore", str(tmp_path / "backup.db"), "--force")
        assert restore.returncode == 1 and "already running" in restore.stderr
    finally:
        assert running.stop() == 0, running.output()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = englog(tmp_path, "up", "--port", str(taken.getsockname()[1]))
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr
    assert "cannot listen for HTTP" in out.stderr.strip().splitlines()[-1]


def test_a_bad_ai_choice_is_refused_before_serving(tmp_path: Path) -> None:
    out = englog(tmp_path, "up", "--port", str(free_port()), "--ai", "nonsense")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "nonsense" in out.stderr


def test_up_with_ollama_uses_the_model_asked_for(tmp_path: Path) -> None:
    from tests.support import fake_ollama as fo

    with fo.running(models=["qwen-test:1b"]) as fake:
        up = start_up(
            tmp_path, "--port", str(free_port()), "--ai", "ollama", "--model", "qwen-test:1b",
            "--ollama-url", fake.url,
        )  # fmt: skip
        try:
            up.wait_for(URL)
            logged = englog(tmp_path, "log", "Reviewed the queue design", "40m", "-p", "atlas")
            assert logged.returncode == 0, logged
            report = englog(tmp_path, "report", "--format", "json", timeout=90)
            assert report.returncode == 0, report
            result = json.loads(report.stdout)
            assert (result["backend"], result["model"]) == ("ollama", "qwen-test:1b")
            assert any(call.body.get("model") == "qwen-test:1b" for call in fake.calls())
        finally:
            assert up.stop() == 0, up.output()
