"""`englog up`: englog for one person on one machine. Server, worker and AI backend in
one process, on a SQLite database kept in the user's data directory, HTTP on loopback.

The first run creates the user's account and signs the local CLI in (the file `englog
login` writes); later runs find the same database and tokens in `up.json` beside it.
gRPC listens on an ephemeral loopback port that only the in-process worker dials, so no
certificate is needed; a team deployment runs `englog server` with TLS instead."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import platformdirs
from rich.console import Console

from englog.domain.tokens import hash_token, new_token
from englog.errors import EnglogError
from englog.server import Server, ServerSettings
from englog.worker import Worker, WorkerSettings, load_handlers

STATE_FILE = "up.json"
DB_FILE = "englog.db"
LOCK_FILE = "up.lock"


class UpError(EnglogError):
    """Something the user can fix (data directory, a second `englog up`, a bad file)."""


def data_dir() -> Path:
    """ENGLOG_DATA_DIR, else the platform's user data directory (on Linux
    `$XDG_DATA_HOME/englog`, by default `~/.local/share/englog`)."""
    explicit = os.environ.get("ENGLOG_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(platformdirs.user_data_dir("englog", appauthor=False))


@dataclass(frozen=True, slots=True)
class UpState:
    """What `englog up` keeps between runs (`up.json`, mode 0600: it holds tokens)."""

    user: str
    api_token: str
    admin_token: str

    @classmethod
    def load(cls, path: Path) -> UpState | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(str(data["user"]), str(data["api_token"]), str(data["admin_token"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UpError(f"cannot read {path}: {exc}; move it away to start afresh") from exc

    def save(self, path: Path) -> None:
        text = json.dumps(
            {"user": self.user, "api_token": self.api_token, "admin_token": self.admin_token}
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)


@dataclass(frozen=True, slots=True)
class UpOptions:
    port: int = 8080
    user: str = ""
    ai: str = "builtin"
    model: str = "llama3.2:3b"
    ollama_url: str = "http://127.0.0.1:11434"
    ai_fallback: str = "wait"
    concurrency: int = 2


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[IO[str]]:
    """One `englog up` per data directory: a second would share the SQLite file with
    another queue and its own leases."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    f = (directory / LOCK_FILE).open("a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise UpError(
                f"englog up is already running on {directory} (pid {holder}); "
                "stop it first or set ENGLOG_DATA_DIR to another directory"
            ) from exc
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield f
    finally:
        f.close()


def _worker_settings(opts: UpOptions, grpc: str, token: str) -> WorkerSettings:
    return WorkerSettings(
        server=grpc,
        token=token,
        worker_id="up-worker",
        concurrency=opts.concurrency,
        ai=opts.ai,
        model=opts.model,
        ollama_url=opts.ollama_url,
        ai_fallback=opts.ai_fallback,
        insecure=True,  # both ends in this process, on loopback
        drain_timeout_s=10.0,
    )


async def _create_account(server: Server, state: UpState, path: Path) -> None:
    """The first run's account; the state is saved only once the user exists."""
    from englog.store import StoreError

    try:
        await server.state.store.create_user(state.user, hash_token(state.api_token), time.time())
    except StoreError as exc:
        raise UpError(
            f"cannot create user {state.user!r} in {path.parent / DB_FILE}: {exc}; "
            "choose another name with --user"
        ) from exc
    state.save(path)


async def run_up(
    console: Console, opts: UpOptions, stop: asyncio.Event, directory: Path | None = None
) -> None:
    """Serve until `stop` is set; on the first run create the account and sign the CLI
    in. Raises UpError or OSError (port taken) with a message for the user."""
    from englog.ai.backend import make_backend

    directory = directory or data_dir()
    with exclusive(directory):
        state_path = directory / STATE_FILE
        state = UpState.load(state_path)
        first = state is None
        if state is None:
            state = UpState(opts.user, new_token("eng_"), new_token("adm_"))
        worker_token = new_token("w_")
        worker_settings = _worker_settings(opts, "127.0.0.1:1", worker_token)
        backend = make_backend(worker_settings.ai_config())  # a bad --ai/--model fails now
        server = Server(
            ServerSettings(
                db_url=f"sqlite:///{directory / DB_FILE}",
                grpc_listen="127.0.0.1:0",
                http_listen=f"127.0.0.1:{opts.port}",
                worker_tokens=(worker_token,),
                admin_token=state.admin_token,
                heartbeat_interval_s=2.0,
            )
        )
        try:
            addresses = await server.start()
            if first:
                await _create_account(server, state, state_path)
        except BaseException:
            await server.stop()
            aclose = getattr(backend, "aclose", None)
            if aclose is not None:
                await aclose()
            raise
        worker = Worker(
            _worker_settings(opts, addresses.grpc, worker_token), load_handlers(), backend=backend
        )
        worker_task = asyncio.create_task(worker.run(stop), name="up-worker")
        try:
            url = f"http://{addresses.http}"
            login = sign_cli_in(url, state.api_token, first)
            _print_welcome(console, url, directory, state, first, login)
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({stopped, worker_task}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
        finally:
            stop.set()
            await worker_task
            await server.stop()
            console.print("stopped; your data stays in " + str(directory), highlight=False)


def sign_cli_in(url: str, api_token: str, first: bool) -> str:
    """Write the CLI config `englog login` would: on the first run, and later whenever it
    holds no token or this one (a port change moves the URL). A login to another server
    is left alone. Returns what happened, for the welcome text."""
    from englog.client import ConfigError, config_path, read_config, write_config

    try:
        saved = read_config()
        if not first and saved.get("token") not in (None, api_token):
            where = saved.get("url", "another server")
            return f"the CLI stays signed in to {where} ({config_path()})"
        saved.update(url=url, token=api_token)
        return f"the CLI is signed in ({write_config(saved)})"
    except (ConfigError, OSError) as exc:
        return f"the CLI is not signed in ({exc}): use englog login --url {url} --token TOKEN"


def _print_welcome(
    console: Console, url: str, directory: Path, state: UpState, first: bool, login: str
) -> None:
    lines = [
        f"englog is up: data in {directory}" + (" (new)" if first else ""),
        f"web app: {url}/app/",
        f"sign in as {state.user} with API token: {state.api_token}",
        f"operator (admin) token: {state.admin_token}",
        f"{login}: try  englog log 'Wrote the design doc' 45m",
        "serving until Ctrl-C",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.file.flush()
