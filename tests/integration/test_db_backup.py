"""`englog db backup` while a server takes writes, then `englog db restore` into a new
server: every entry and task committed before the backup began is there; and the
mistakes an operator can make are one line each (issue 24)."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ADMIN_TOKEN, base_env, cluster, englog_cmd, wait_for

pytestmark = pytest.mark.timeout(180)


def englog(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        englog_cmd(*args), env=base_env(), capture_output=True, text=True, timeout=timeout
    )


class Load:
    """Entries and tasks written as fast as one client can, each id kept with the
    moment its 2xx answer arrived (committed by then)."""

    def __init__(self, url: str, user_token: str) -> None:
        self.url = url
        self.user = {"Authorization": f"Bearer {user_token}"}
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.entries: list[tuple[float, str]] = []
        self.tasks: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        start = datetime(2026, 11, 2, 8, tzinfo=UTC)
        try:
            with httpx.Client(base_url=self.url, timeout=10) as client:
                n = 0
                while not self.stop.is_set():
                    at = start + timedelta(minutes=30 * n)
                    entry = {
                        "title": f"load {n}",
                        "start_time": at.isoformat(),
                        "end_time": (at + timedelta(minutes=20)).isoformat(),
                        "type": "development",
                    }
                    answer = client.post("/v1/entries", json=entry, headers=self.user)
                    answer.raise_for_status()
                    self.entries.append((time.monotonic(), answer.json()["id"]))
                    task = client.post(
                        "/v1/tasks", json={"type": "noop", "payload": {"n": n}}, headers=self.admin
                    )
                    task.raise_for_status()
                    self.tasks.append((time.monotonic(), task.json()["task_id"]))
                    n += 1
        except BaseException as exc:
            self.error = exc


def test_backup_under_load_restores_every_committed_entry_and_task(tmp_path: Path) -> None:
    backup_file = tmp_path / "backup" / "englog-backup.db"
    with cluster(tmp_path) as c:
        c.start_server()
        c.start_worker("w1")
        token = c.create_user("ada")
        with Load(c.server.url, token) as load:  # type: ignore[union-attr]
            wait_for(lambda: len(load.entries) >= 200, 60, what="200 entries under load")
            began = time.monotonic()
            out = englog("db", "backup", str(backup_file), "--db", c.db_url)
            ended = time.monotonic()
        assert load.error is None, load.error
        assert out.returncode == 0, out
        assert "backed up" in out.stdout
        before = [i for at, i in load.entries if at < began]
        during = [i for at, i in load.entries if began <= at < ended]
        assert len(before) >= 200
        assert during, "the server took no writes while the backup ran"
        tasks_before = [i for at, i in load.tasks if at < began]

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    with cluster(restored_dir) as r:
        out = englog("db", "restore", str(backup_file), "--db", r.db_url)
        assert out.returncode == 0, out
        r.start_server()
        user = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=r.server.url, timeout=10) as client:  # type: ignore[union-attr]
            for entry_id in before:
                assert client.get(f"/v1/entries/{entry_id}", headers=user).status_code == 200
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            for task_id in tasks_before:
                assert client.get(f"/v1/tasks/{task_id}", headers=admin).status_code == 200


def test_restore_refuses_to_replace_without_force_and_postgres_points_to_pg_dump(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    assert englog("db", "migrate", "--db", db).returncode == 0
    check = englog("db", "migrate", "--check", "--db", db)
    assert check.returncode == 0 and "up to date" in check.stdout
    fresh = englog("db", "migrate", "--check", "--db", f"sqlite:///{tmp_path / 'new.db'}")
    assert fresh.returncode == 1 and "pending: sqlite_0001_initial.sql" in fresh.stdout
    assert englog("db", "backup", str(tmp_path / "b.db"), "--db", db).returncode == 0
    again = englog("db", "restore", str(tmp_path / "b.db"), "--db", db)
    assert again.returncode == 1 and "--force" in again.stderr
    assert englog("db", "restore", str(tmp_path / "b.db"), "--db", db, "--force").returncode == 0
    (tmp_path / "junk.db").write_text("not a database")
    junk = englog("db", "restore", str(tmp_path / "junk.db"), "--db", f"sqlite:///{tmp_path}/c.db")
    assert junk.returncode == 1 and "not an englog database" in junk.stderr
    pg = englog("db", "backup", str(tmp_path / "p.dump"), "--db", "postgresql://127.0.0.1/test")
    assert pg.returncode == 1 and "pg_dump" in pg.stderr
    for out in (again, junk, pg):
        assert "Traceback" not in out.stderr
