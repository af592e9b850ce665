"""`englog up` as a real process in a throwaway home (HOME, XDG_DATA_HOME and
XDG_CONFIG_HOME under a temporary directory), its output read on a thread so every wait
is bounded."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

URL = re.compile(r"web app: (http://127\.0\.0\.1:\d+)/app/")
API_TOKEN = re.compile(r"API token: (eng_\S+)")
ADMIN_TOKEN = re.compile(r"admin\) token: (adm_\S+)")


def home_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user whose home is `home`: no ENGLOG_* from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGLOG_", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@dataclass
class UpProc:
    """One `englog up` run: `argv` is the command (an `englog` executable or `python -m
    englog`) and its flags."""

    argv: list[str]
    env: dict[str, str]
    popen: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _new: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _reader: threading.Thread | None = None

    def start(self) -> UpProc:
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        for line in self.popen.stdout:
            self._new.put(line)
        self._new.put(None)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 60.0) -> str:
        for line in self.lines:
            if found := pattern.search(line):
                return found.group(1)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if found := pattern.search(line):
                return found.group(1)
        raise AssertionError(f"no line matching {pattern.pattern!r}:\n{self.output()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT (Ctrl-C) and the exit code; the rest of the output is read."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        code = self.popen.wait(timeout)
        try:
            while (line := self._new.get(timeout=5)) is not None:
                self.lines.append(line)
        except queue.Empty:  # the end was read by an earlier wait_for
            pass
        self._close()
        return code

    def _close(self) -> None:
        """After the process has ended: the reader has met EOF; close the pipe."""
        if self._reader is not None:
            self._reader.join(10)
        if self.popen is not None and self.popen.stdout is not None:
            self.popen.stdout.close()

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        self._close()
