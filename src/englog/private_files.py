"""Files that hold data or keys are readable by their owner only (issue 22: the
database, its WAL and the worker's outbox were 0644 and hold every user's entries and
the token hashes; private keys could be written at 0644 and through a symlink).

SQLite gives its `-wal` and `-shm` files the database file's permissions, so creating
the database 0600 (and tightening one found wider) covers all three."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(directory: Path) -> None:
    """Create `directory` (and missing parents) 0700; an existing one is left as is
    (it may be shared on purpose, e.g. the working directory)."""
    if directory.exists():
        return
    directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with contextlib.suppress(OSError):  # mkdir's mode is masked by the umask
        os.chmod(directory, PRIVATE_DIR)


def private_sqlite(path: str | Path) -> None:
    """Before SQLite opens `path`: its folder made (0700), the file created 0600 if
    missing, and it and its side files tightened to 0600 if they are wider."""
    db = Path(path).expanduser()
    private_dir(db.parent)
    with contextlib.suppress(FileExistsError):
        fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
        os.close(fd)
    for candidate in (db, *(Path(f"{db}{suffix}") for suffix in SQLITE_SIDE_FILES)):
        with contextlib.suppress(OSError):
            if candidate.stat().st_mode & 0o077:
                os.chmod(candidate, PRIVATE_FILE)


def write_private(path: Path, data: bytes) -> None:
    """Write `path` 0600 without following a symlink and never through one: whatever
    is at `path` (a file, a symlink to anywhere) is removed first and a new file is
    created exclusively."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            raise IsADirectoryError(21, "Is a directory", str(path))
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
