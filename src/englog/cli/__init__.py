"""The `englog` command line. Every flag also reads an ENGLOG_* variable; the REST
commands also read the file `englog login` saves. Errors a user can cause print one
line, never a traceback.

One module per command group: `server_cmd`, `worker_cmd`, `local_cmd` (demo),
`accounts_cmd` (users, tokens), `my_data_cmd` (export, import, delete-account),
`projects_cmd` (projects, tags), `session_cmd` (login, logout, whoami, me), `entries_cmd`
(log, entries), `results_cmd` (insight, report), `tasks_cmd` (tasks, workers), `certs_cmd`,
`workers_cmd` (workers' own credentials), `up_cmd` (up), `db_cmd` (db backup, restore,
migrate), `timer_cmd` (start, stop, status, continue), `import_cmd`, `trends_cmd`.

Each module registers its commands on `app` when imported. `englog server` and `englog
worker` import only their own: a process that runs for days then carries neither the
REST client (httpx) nor calendar parsing (icalendar) nor the other commands (about 8 MB
of its resident memory, measured). Everything else, and `app` read from this package,
registers every command."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

_COMMANDS = (
    "accounts_cmd",
    "certs_cmd",
    "db_cmd",
    "entries_cmd",
    "import_cmd",
    "local_cmd",
    "my_data_cmd",
    "projects_cmd",
    "results_cmd",
    "server_cmd",
    "session_cmd",
    "tasks_cmd",
    "timer_cmd",
    "trends_cmd",
    "up_cmd",
    "worker_cmd",
    "workers_cmd",
)
# Long-running commands registered alone when they are the one asked for.
_ALONE = {"server": "server_cmd", "worker": "worker_cmd"}
_FROM_RUN = ("POSIX_GRPC_ENDPOINTS", "event_loop_factory", "parse_duration",
             "use_posix_grpc_endpoints")  # fmt: skip

__all__ = ["POSIX_GRPC_ENDPOINTS", "app", "event_loop_factory", "main", "parse_duration",
           "use_posix_grpc_endpoints"]  # fmt: skip


def register(*modules: str) -> None:
    """Import these command modules (all of them when none is named)."""
    for name in modules or _COMMANDS:
        import_module(f"englog.cli.{name}")


def main() -> None:
    """Entry point (`englog`, `python -m englog`)."""
    alone = _ALONE.get(sys.argv[1]) if len(sys.argv) > 1 else None
    register(*([alone] if alone else []))
    from englog.cli._app import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        register()
        return import_module("englog.cli._app").app
    if name in _FROM_RUN:
        return getattr(import_module("englog.cli._run"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
