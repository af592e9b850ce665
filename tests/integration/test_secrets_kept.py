"""Secrets stay out of logs and files stay private (issue 22): a full run (a server on
PostgreSQL with a password in its URL, a worker, a user's tasks, refused tokens) logs
none of the secrets it used; the databases, WAL, outbox and keys are 0600; private keys
are never written through a symlink."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import httpx
import pytest
import structlog

from englog import certs
from englog.logs import configure_logging, redact
from tests.support.pg import throwaway_database
from tests.support.procs import ADMIN_TOKEN, WORKER_TOKEN, cluster, wait_for

PASSWORD = "pg-pass-s3cret-value"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_full_run_logs_none_of_its_secrets(tmp_path: Path) -> None:
    with throwaway_database() as url:
        # Trust auth ignores the password, which makes it a secret only the logs could show.
        user_part, _, rest = url.partition("@")
        with_password = f"{user_part}:{PASSWORD}@{rest}"
        with cluster(tmp_path, db_url=with_password, heartbeat=0.5) as c:
            server = c.start_server()
            token = c.create_user("alice")
            outbox = tmp_path / "w" / "outbox.db"
            c.start_worker("w1", "--outbox", str(outbox))
            c.wait_workers_connected("w1")
            with httpx.Client(base_url=server.url, timeout=30) as h:
                mine = {"Authorization": f"Bearer {token}"}
                task = h.post("/v1/tasks", json={"type": "noop"}, headers=mine).json()
                assert h.post("/v1/tasks", headers={"Authorization": "Bearer eng_" + "x" * 40},
                              json={"type": "noop"}).status_code == 401  # fmt: skip
                wait_for(
                    lambda: (
                        h.get(f"/v1/tasks/{task['task_id']}", headers=mine).json()["status"]
                        == "completed"
                    ),
                    timeout=30,
                    what="the task done",
                )
            c.stop_all()
            logs = server.log() + c.workers["w1"].log()
            assert "server_started" in logs
            # The shared worker token works, with its warning.
            assert "shared_worker_tokens" in server.log()
            for secret in (PASSWORD, token, ADMIN_TOKEN, WORKER_TOKEN):
                assert secret not in logs, f"{secret[:6]}... found in the logs"
            # The outbox the worker created: 0600 in a 0700 folder.
            assert _mode(outbox) == 0o600
            assert _mode(outbox.parent) == 0o700


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "data" / "englog.db"  # englog makes the folder: 0700
    with cluster(tmp_path, db_url=f"sqlite:///{db}") as c:
        server = c.start_server()
        c.create_user("bob")
        assert _mode(db.parent) == 0o700
        wait_for(lambda: Path(f"{db}-wal").exists(), timeout=10, what="the WAL")
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            if path.exists():
                assert _mode(path) == 0o600, path
        assert server.alive


def test_a_wider_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "englog.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    with cluster(tmp_path) as c:
        c.start_server()
        assert _mode(db) == 0o600


def test_keys_are_0600_and_never_written_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("not a key")
    pki = tmp_path / "pki"
    certs.init(pki)
    assert _mode(pki) == 0o700
    for name in ("ca.key", "server.key", "worker.key"):
        assert _mode(pki / name) == 0o600
        os.chmod(pki / name, 0o644)  # an old, too-open key
    (pki / "ca.key").unlink()
    (pki / "ca.key").symlink_to(target)
    certs.init(pki, force=True)
    assert target.read_text() == "not a key"
    assert not (pki / "ca.key").is_symlink()
    for name in ("ca.key", "server.key", "worker.key"):
        assert _mode(pki / name) == 0o600


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://user:hunter2@db/englog", "hunter2"),
        ("Authorization: Bearer eng_abcdefghijklmnopqrstuvwxyz", "eng_abcdefghijklmnop"),
        ("token wkr_0123456789abcdefghijklmnop in text", "0123456789abcdefghij"),
        ("host=db password=hunter2 user=x", "hunter2"),
    ],
)
def test_redact_masks_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_every_log_line_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json=True)
    try:
        log = structlog.get_logger("englog.test")
        log.info("x", db="postgresql://u:hunter2@h/d", token="plain-secret", n_tokens=3)
        logging.getLogger("uvicorn.error").warning("url %s", "https://u:hunter3@h/")
        err = capsys.readouterr().err
        assert "hunter2" not in err and "plain-secret" not in err and "hunter3" not in err
        assert '"n_tokens": 3' in err
    finally:
        structlog.reset_defaults()
