"""The `englog` command line. Every flag also reads an ENGLOG_* variable; the REST
commands also read the file `englog login` saves. Errors a user can cause print one
line, never a traceback.

One module per command group: `server_cmd`, `worker_cmd`, `local_cmd` (demo),
`accounts_cmd` (users, tokens), `my_data_cmd` (export, import, delete-account),
`projects_cmd` (projects, tags), `session_cmd` (login, logout, whoami, me), `entries_cmd`
(log, entries), `results_cmd` (insight, report), `tasks_cmd` (tasks, workers), `certs_cmd`,
`workers_cmd` (workers' own credentials), `up_cmd` (up), `db_cmd` (db backup, restore,
migrate), `timer_cmd` (start, stop, status, continue), `import_cmd`, `trends_cmd`."""

from englog.cli import (  # noqa: F401  (each registers its commands on `app`)
    accounts_cmd,
    certs_cmd,
    db_cmd,
    entries_cmd,
    import_cmd,
    local_cmd,
    my_data_cmd,
    projects_cmd,
    results_cmd,
    server_cmd,
    session_cmd,
    tasks_cmd,
    timer_cmd,
    trends_cmd,
    up_cmd,
    worker_cmd,
    workers_cmd,
)
from englog.cli._app import app, main
from englog.cli._run import (
    POSIX_GRPC_ENDPOINTS,
    event_loop_factory,
    parse_duration,
    use_posix_grpc_endpoints,
)

__all__ = [
    "POSIX_GRPC_ENDPOINTS",
    "app",
    "event_loop_factory",
    "main",
    "parse_duration",
    "use_posix_grpc_endpoints",
]
