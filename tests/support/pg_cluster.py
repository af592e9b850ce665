"""A private PostgreSQL cluster a test starts, stops, crashes and restarts at will (the
machine's shared server on 5432 must never be restarted under other tests): the
installed PostgreSQL's `initdb` and `pg_ctl`, run as the `postgres` user in a
directory it owns, listening on a loopback port of its own."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.support.procs import free_port, port_accepting, wait_for

RUN_AS = "postgres"
DATABASE = "englog"


def pg_bin(name: str) -> str:
    """The newest installed PostgreSQL's `name` (Debian keeps them off PATH)."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (looked in /usr/lib/postgresql)")
    return on_path


def as_postgres(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the `postgres` user (initdb refuses root)."""
    command = list(args) if os.geteuid() != 0 else ["runuser", "-u", RUN_AS, "--", *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({out.returncode}): {out.stderr or out.stdout}"
        )
    return out


@dataclass
class PrivatePostgres:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def init(self) -> None:
        as_postgres(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        as_postgres(
            pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            # Crash safety is PostgreSQL's WAL (a killed postmaster recovers from it);
            # fsync only guards against the machine losing power, not at stake here.
            " -c fsync=off -c max_connections=60"
        )
        as_postgres(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`immediate`: every PostgreSQL process quits at once, without a checkpoint,
        as in a crash; the next start recovers from the WAL."""
        as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        wait_for(lambda: not port_accepting(self.port), 10, what="PostgreSQL port closed")

    def admin(self, *statements: str) -> list[list[asyncpg.Record]]:
        """Run each statement (outside a transaction) as the superuser."""

        async def run() -> list[list[asyncpg.Record]]:
            conn = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:{self.port}/postgres", timeout=10
            )
            try:
                return [await conn.fetch(sql) for sql in statements]
            finally:
                await conn.close()

        return asyncio.run(run())

    def terminate_backends(self) -> int:
        """pg_terminate_backend on every client connection to the database (what an
        operator or a failover does); returns how many were ended."""
        [rows] = self.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{DATABASE}' AND pid <> pg_backend_pid()"
        )
        return sum(1 for r in rows if r[0])

    def limited_database(self, connections: int) -> str:
        """A database owned by a role allowed only `connections` connections at once
        (fewer than englog's pool wants); returns its URL, which logs in as that role."""
        self.admin(
            f"CREATE ROLE englog_limited LOGIN CONNECTION LIMIT {connections}",
            "CREATE DATABASE englog_limited OWNER englog_limited",
        )
        return f"postgresql://englog_limited@127.0.0.1:{self.port}/englog_limited"

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A new cluster in a temporary directory owned by `postgres`; stopped and removed
    afterwards, however the test ends."""
    root = Path(tempfile.mkdtemp(prefix="englog-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, RUN_AS, RUN_AS)
    cluster = PrivatePostgres(root, free_port())
    try:
        cluster.init()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):  # already stopped: nothing to do
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
