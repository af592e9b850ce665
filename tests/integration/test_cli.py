"""The CLI as a user meets it: errors in one line, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.procs import base_env, englog_cmd, free_port


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        englog_cmd(*args), env=base_env(**env), capture_output=True, text=True, timeout=60
    )


def test_users_create_prints_the_token_alone_on_the_last_line(tmp_path: Path) -> None:
    out = run("users", "create", "ada", "--db", f"sqlite:///{tmp_path / 'u.db'}")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("eng_") and len(token) > 30 and " " not in token
    db = (tmp_path / "u.db").read_bytes()
    assert token.encode() not in db  # stored hashed, never in clear


def test_bad_flag_is_one_clear_line() -> None:
    for args in (
        ("server", "--heartbeat-interval", "soon"),
        ("server", "--no-such-flag"),
        ("no-such-command",),
        ("users", "create"),
    ):
        out = run(*args)
        assert out.returncode == 2, out
        assert "Traceback" not in out.stderr
        [line] = out.stderr.strip().splitlines()
        assert line.startswith("error: ") and "--help" in line
    assert "heartbeat-interval" in run("server", "--heartbeat-interval", "soon").stderr


def test_refused_connection_is_one_line() -> None:
    out = run("tasks", "list", "--url", f"http://127.0.0.1:{free_port()}", "--token", "x")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "cannot connect" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_server_without_worker_tokens_refuses_to_start() -> None:
    out = run("server")
    assert out.returncode == 1 and "ENGLOG_WORKER_TOKENS" in out.stderr
    assert "Traceback" not in out.stderr


def test_server_on_a_taken_port_fails_cleanly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = run(
            "server",
            "--db",
            f"sqlite:///{tmp_path / 's.db'}",
            "--http-listen",
            f"127.0.0.1:{port}",
            "--grpc-listen",
            f"127.0.0.1:{free_port()}",
            ENGLOG_WORKER_TOKENS="t",
        )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: cannot listen for HTTP")


def test_worker_unknown_handler_module_is_one_line() -> None:
    out = run("worker", "--token", "t", "--handlers", "no.such.module")
    assert out.returncode == 1
    assert "no.such.module" in out.stderr and "Traceback" not in out.stderr


def test_plaintext_only_when_asked(tmp_path: Path) -> None:
    out = run(
        "server",
        "--db",
        f"sqlite:///{tmp_path / 's.db'}",
        "--grpc-listen",
        f"127.0.0.1:{free_port()}",
        "--http-listen",
        f"127.0.0.1:{free_port()}",
        ENGLOG_WORKER_TOKENS="wt",
        ENGLOG_INSECURE="0",
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert "--tls-cert" in line and "--insecure" in line
