"""`englog` command line. Every flag also reads an ENGLOG_* variable. Errors a user can
cause (bad flag, refused connection, bad token) print one line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from englog.logs import configure_logging

app = typer.Typer(
    help="englog: log your work, get AI insights and weekly reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
users_app = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)
tasks_app = typer.Typer(help="Submit and follow tasks over the REST API.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tasks_app, name="tasks")

console = Console()
err = Console(stderr=True, soft_wrap=True)


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, option: str) -> float:
    """Seconds from "90", "90s", "15m", "12h" or "7d"; ValueError names the option."""
    value = text.strip().lower()
    unit = _DURATION_UNITS.get(value[-1:]) if value else None
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{option} must be a positive duration like 3600, 90m, 12h or 7d")
    return seconds


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the server and the worker when it is installed (it is a dependency
    wherever it builds), as uvicorn picks it: its loop turns and socket calls cost
    less than asyncio's, and every round trip takes several of each in both processes
    (side by side: -0.07 ms, 3 %). ENGLOG_EVENT_LOOP=asyncio keeps the standard loop.
    None means asyncio's own."""
    choice = os.environ.get("ENGLOG_EVENT_LOOP", "auto").strip().lower()
    if choice not in ("auto", "asyncio", "uvloop"):
        fail(f"ENGLOG_EVENT_LOOP must be auto, asyncio or uvloop, not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            fail("ENGLOG_EVENT_LOOP=uvloop, but uvloop is not installed")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


# gRPC's own switches (GRPC_EXPERIMENTS, read once by its C core at the first channel or
# server) for the POSIX socket endpoints it used before its EventEngine ones. These
# names are those of the pinned grpcio (pyproject.toml); an unknown name is logged by
# gRPC and ignored.
POSIX_GRPC_ENDPOINTS = (
    "-event_engine_client,-event_engine_listener,-event_engine_for_all_other_endpoints"
)


def use_posix_grpc_endpoints() -> None:
    """The server and the worker exchange small messages, each one waited for, so the
    latency of a single message matters more than bulk throughput. With gRPC's older
    POSIX endpoints instead of its EventEngine ones, measured side by side on the
    bench machine, a round trip (two messages) took 0.16 ms (6 %) less. A
    GRPC_EXPERIMENTS already set is left as it is."""
    os.environ.setdefault("GRPC_EXPERIMENTS", POSIX_GRPC_ENDPOINTS)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run `main(stop)`; the first SIGTERM/SIGINT sets `stop` (graceful), a second exits
    at once."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                err.print("second signal: exiting now")
                os._exit(130)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await main(stop)

    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as loop_runner:
            loop_runner.run(runner())
    except OSError as exc:
        fail(str(exc))


# --- server ---------------------------------------------------------------------
@app.command()
def server(
    db: Annotated[str, typer.Option(envvar="ENGLOG_DB", help="Store URL")] = "sqlite:///englog.db",
    grpc_listen: Annotated[
        str, typer.Option(envvar="ENGLOG_GRPC_LISTEN", help="gRPC address for workers")
    ] = "127.0.0.1:50051",
    http_listen: Annotated[
        str, typer.Option(envvar="ENGLOG_HTTP_LISTEN", help="REST address")
    ] = "127.0.0.1:8080",
    heartbeat_interval: Annotated[
        float, typer.Option(envvar="ENGLOG_HEARTBEAT_INTERVAL", min=0.05, help="Seconds")
    ] = 5.0,
    lease_ttl: Annotated[
        float, typer.Option(envvar="ENGLOG_LEASE_TTL", min=0.1, help="Seconds")
    ] = 30.0,
    worker_tokens: Annotated[
        str, typer.Option(envvar="ENGLOG_WORKER_TOKENS", help="Comma-separated worker tokens")
    ] = "",
    admin_token: Annotated[
        str | None, typer.Option(envvar="ENGLOG_ADMIN_TOKEN", help="Admin API token")
    ] = None,
    tls_cert: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_CERT")] = None,
    tls_key: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_KEY")] = None,
    tls_ca: Annotated[
        str | None, typer.Option(envvar="ENGLOG_TLS_CA", help="CA for client certs (mTLS)")
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            envvar="ENGLOG_INSECURE",
            help="Serve plaintext gRPC (no TLS): only when asked",
        ),
    ] = False,
    retention: Annotated[
        str,
        typer.Option(
            envvar="ENGLOG_RETENTION",
            help="Delete finished tasks older than this: seconds, or a number with s/m/h/d",
        ),
    ] = "7d",
    max_reassignments: Annotated[
        int,
        typer.Option(
            envvar="ENGLOG_MAX_REASSIGNMENTS",
            min=0,
            help="Times a task may be taken back from lost workers before it fails",
        ),
    ] = 10,
    log_level: Annotated[str, typer.Option(envvar="ENGLOG_LOG_LEVEL")] = "info",
) -> None:
    """Run the server: REST for people, gRPC for workers, the durable task queue."""
    use_posix_grpc_endpoints()
    from englog.server.app import serve
    from englog.server.state import ServerSettings
    from englog.store.base import StoreError

    configure_logging(log_level)
    tokens = tuple(t.strip() for t in worker_tokens.split(",") if t.strip())
    if not tokens:
        fail("no worker tokens: set ENGLOG_WORKER_TOKENS (comma separated) or --worker-tokens")
    if not tls_cert and not insecure:
        fail("no TLS certificate: give --tls-cert and --tls-key, or --insecure for plaintext gRPC")
    try:
        settings = ServerSettings(
            db_url=db,
            grpc_listen=grpc_listen,
            http_listen=http_listen,
            heartbeat_interval_s=heartbeat_interval,
            lease_ttl_s=lease_ttl,
            worker_tokens=tokens,
            admin_token=admin_token,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_ca=tls_ca,
            retention_s=parse_duration(retention, "--retention"),
            max_reassignments=max_reassignments,
        )
        run_until_signal(lambda stop: serve(settings, stop))
    except (StoreError, ValueError) as exc:
        fail(str(exc))


# --- worker ---------------------------------------------------------------------
@app.command()
def worker(
    server: Annotated[str, typer.Option(envvar="ENGLOG_SERVER", help="Server gRPC HOST:PORT")] = (
        "127.0.0.1:50051"
    ),
    token: Annotated[str, typer.Option(envvar="ENGLOG_WORKER_TOKEN", help="Worker token")] = "",
    concurrency: Annotated[int, typer.Option(envvar="ENGLOG_CONCURRENCY", min=1, max=1024)] = 4,
    health_listen: Annotated[str | None, typer.Option(envvar="ENGLOG_HEALTH_LISTEN")] = None,
    ai: Annotated[
        str, typer.Option(envvar="ENGLOG_AI", help="builtin|ollama|openai (OpenAI-compatible)")
    ] = "builtin",
    ollama_url: Annotated[
        str, typer.Option(envvar="ENGLOG_OLLAMA_URL", help="LLM server URL (ollama or openai)")
    ] = "http://127.0.0.1:11434",
    model: Annotated[str, typer.Option(envvar="ENGLOG_MODEL")] = "llama3.2:3b",
    ai_fallback: Annotated[
        str,
        typer.Option(
            envvar="ENGLOG_AI_FALLBACK",
            help="While the LLM is down: wait (AI tasks stay queued) or degrade (builtin answers)",
        ),
    ] = "wait",
    insight_timeout: Annotated[
        float, typer.Option(envvar="ENGLOG_INSIGHT_TIMEOUT", help="Seconds per insight call")
    ] = 60.0,
    report_timeout: Annotated[
        float, typer.Option(envvar="ENGLOG_REPORT_TIMEOUT", help="Seconds per report call")
    ] = 90.0,
    ai_health_timeout: Annotated[
        float, typer.Option(envvar="ENGLOG_AI_HEALTH_TIMEOUT", help="Seconds per health check")
    ] = 10.0,
    model_load_timeout: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_MODEL_LOAD_TIMEOUT", help="Seconds for calls until the model is loaded"
        ),
    ] = 300.0,
    num_ctx: Annotated[int, typer.Option(envvar="ENGLOG_NUM_CTX", help="Context tokens")] = 8192,
    num_predict: Annotated[
        int, typer.Option(envvar="ENGLOG_NUM_PREDICT", help="Answer tokens")
    ] = 1024,
    temperature: Annotated[float, typer.Option(envvar="ENGLOG_TEMPERATURE")] = 0.2,
    seed: Annotated[int | None, typer.Option(envvar="ENGLOG_SEED")] = None,
    keep_alive: Annotated[
        str, typer.Option(envvar="ENGLOG_KEEP_ALIVE", help="How long the model stays loaded")
    ] = "10m",
    outbox: Annotated[str | None, typer.Option(envvar="ENGLOG_OUTBOX")] = None,
    outbox_linger: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_OUTBOX_LINGER",
            min=0,
            max=1,
            help="Seconds a finished result waits for its acknowledgement before the"
            " outbox writes it (0: at once)",
        ),
    ] = 0.005,
    worker_id: Annotated[str | None, typer.Option(envvar="ENGLOG_WORKER_ID")] = None,
    handlers: Annotated[
        list[str] | None, typer.Option(envvar="ENGLOG_HANDLERS", help="Module with @handler")
    ] = None,
    drain_timeout: Annotated[float, typer.Option(envvar="ENGLOG_DRAIN_TIMEOUT", min=0)] = 30.0,
    health_check_interval: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_HEALTH_CHECK_INTERVAL",
            min=0.1,
            help="Seconds between gRPC health checks of the server",
        ),
    ] = 30.0,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", envvar="ENGLOG_INSECURE", help="Plaintext gRPC: only when asked"
        ),
    ] = False,
    tls_cert: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_CERT")] = None,
    tls_key: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_KEY")] = None,
    tls_ca: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_CA")] = None,
    log_level: Annotated[str, typer.Option(envvar="ENGLOG_LOG_LEVEL")] = "info",
) -> None:
    """Run a worker: dial the server, pull tasks, run them, report results."""
    use_posix_grpc_endpoints()
    from englog.ai.backend import make_backend
    from englog.ai.config import AITimeouts, ModelOptions
    from englog.worker.client import Worker
    from englog.worker.handlers import HandlerLoadError, load_handlers
    from englog.worker.outbox import Outbox, OutboxError
    from englog.worker.settings import WorkerSettings, default_worker_id

    configure_logging(log_level)
    if not token:
        fail("no worker token: set ENGLOG_WORKER_TOKEN or --token")
    try:
        registry = load_handlers(handlers)
        settings = WorkerSettings(
            server=server,
            token=token,
            # A restarted worker keeps the id its outbox remembers, so the results it
            # left there are still its own to report.
            worker_id=worker_id or Outbox.remembered_worker_id(outbox) or default_worker_id(),
            concurrency=concurrency,
            health_listen=health_listen,
            ai=ai,
            ollama_url=ollama_url,
            model=model,
            ai_fallback=ai_fallback,
            ai_timeouts=AITimeouts(
                insight_s=insight_timeout,
                report_s=report_timeout,
                health_s=ai_health_timeout,
                model_load_s=model_load_timeout,
            ),
            ai_options=ModelOptions(
                temperature=temperature,
                seed=seed,
                num_ctx=num_ctx,
                num_predict=num_predict,
                keep_alive=keep_alive,
            ),
            outbox=outbox,
            outbox_linger_s=outbox_linger,
            insecure=insecure,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_ca=tls_ca,
            drain_timeout_s=drain_timeout,
            health_check_interval_s=health_check_interval,
        )
        w = Worker(settings, registry, backend=make_backend(settings.ai_config()))
    except (HandlerLoadError, ValueError, OSError, OutboxError) as exc:
        fail(str(exc))
    run_until_signal(w.run)
    if w.runner.busy_threads:
        # Sync handlers past their deadline hold threads that cannot be killed; the
        # interpreter would wait for them at exit, beyond --drain-timeout. Results
        # are reported or in the outbox by now, so leave without them.
        err.print(f"exiting without {w.runner.busy_threads} handler thread(s) still running")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


# --- demo -----------------------------------------------------------------------
@app.command()
def demo(
    log_level: Annotated[str, typer.Option(envvar="ENGLOG_LOG_LEVEL")] = "warning",
) -> None:
    """Server and worker in one process on a temporary database: load a sample week,
    generate an insight and a weekly report, show them, shut down."""
    from englog.demo import run_demo

    configure_logging(log_level)
    code = asyncio.run(run_demo(console))
    raise typer.Exit(code)


# --- users ----------------------------------------------------------------------
@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User name")],
    db: Annotated[str, typer.Option(envvar="ENGLOG_DB")] = "sqlite:///englog.db",
) -> None:
    """Create a user and print a new API token (alone on the last line)."""
    from englog.domain.tokens import hash_token, new_token
    from englog.store import open_store
    from englog.store.base import StoreError

    if not name.strip():
        fail("user name must not be empty")

    async def create() -> str:
        store = open_store(db)
        await store.open()
        try:
            token = new_token("eng_")
            await store.create_user(name.strip(), hash_token(token), time.time())
            return token
        finally:
            await store.close()

    try:
        token = asyncio.run(create())
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc))
    err.print(f"created user {name.strip()!r}; keep this token, it is shown once:")
    print(token)


# --- REST client commands -----------------------------------------------------------
UrlOpt = Annotated[str, typer.Option(envvar="ENGLOG_URL", help="Server REST URL")]
TokenOpt = Annotated[str, typer.Option(envvar="ENGLOG_TOKEN", help="API token")]
DEFAULT_URL = "http://127.0.0.1:8080"


def api(
    method: str,
    url: str,
    token: str,
    path: str,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
    **kwargs: Any,
) -> Any:
    if not token:
        fail("no API token: set ENGLOG_TOKEN or --token")
    try:
        response = httpx.request(
            method,
            url.rstrip("/") + path,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            timeout=timeout,
            **kwargs,
        )
    except httpx.ConnectError:
        fail(f"cannot connect to {url}: is the server running?")
    except httpx.HTTPError as exc:
        fail(f"request to {url} failed: {exc}")
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = body.get("detail", body)
        except ValueError:
            detail = response.text
        text = detail if isinstance(detail, str) else json.dumps(detail)
        fail(f"{response.status_code}: {text}")
    return response.json() if response.content else None


@tasks_app.command("submit")
def tasks_submit(
    type: Annotated[str, typer.Argument(help="Task type")],
    payload: Annotated[str, typer.Option(help="JSON payload")] = "{}",
    priority: Annotated[int, typer.Option(min=0)] = 0,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            max=30,
            help="Wait up to this many seconds for the result (Prefer: wait); print the"
            " finished task as JSON, or the id if it is still running",
        ),
    ] = 0,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = "",
) -> None:
    """Submit a task (insight_generation and weekly_report have their own routes)."""
    try:
        body = json.loads(payload)
    except ValueError as exc:
        fail(f"--payload is not JSON: {exc}")
    reply = api(
        "POST",
        url,
        token,
        "/v1/tasks",
        json={"type": type, "payload": body, "priority": priority},
        # Milliseconds at most: Prefer takes a plain decimal (no exponent).
        headers={"Prefer": f"wait={wait:.3f}"} if wait >= 0.001 else None,
        timeout=wait + 15.0,
    )
    if "attempts" not in reply:  # 202: not finished (or no wait asked)
        print(reply["task_id"])
        return
    console.print_json(data=reply)
    raise typer.Exit(0 if reply["status"] == "completed" else 2)


@tasks_app.command("list")
def tasks_list(
    status: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = "",
) -> None:
    """List your tasks, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    reply = api("GET", url, token, "/v1/tasks", params=params)
    table = Table("type", "status", "attempt", "progress", "created")
    table.add_column("id", no_wrap=True, min_width=32)
    for t in reply["tasks"]:
        table.add_row(
            t["type"],
            t["status"],
            str(t["attempt"]),
            f"{t['progress']:.0f}%",
            str(t["created_at"])[:19],
            t["task_id"],
        )
    console.print(table)


@tasks_app.command("show")
def tasks_show(task_id: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = "") -> None:
    """Show one task as JSON."""
    console.print_json(data=api("GET", url, token, f"/v1/tasks/{task_id}"))


@tasks_app.command("watch")
def tasks_watch(
    task_id: str,
    timeout: Annotated[float, typer.Option(min=0.1)] = 300.0,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = "",
) -> None:
    """Follow a task until it finishes (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        task = api("GET", url, token, f"/v1/tasks/{task_id}")
        state = (task["status"], task["progress"])
        if state != last:
            err.print(
                f"{task['status']} {task['progress']:.0f}% {task.get('progress_message') or ''}"
            )
            last = state
        if task["status"] in ("completed", "failed", "cancelled"):
            console.print_json(data=task)
            raise typer.Exit(0 if task["status"] == "completed" else 2)
        time.sleep(0.5)
    fail(f"task {task_id} did not finish within {timeout:g}s")


@tasks_app.command("cancel")
def tasks_cancel(task_id: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = "") -> None:
    """Cancel a task: at once if pending, through its worker if running."""
    console.print_json(data=api("POST", url, token, f"/v1/tasks/{task_id}/cancel"))


@app.command()
def workers(
    url: UrlOpt = DEFAULT_URL,
    token: Annotated[str, typer.Option(envvar="ENGLOG_ADMIN_TOKEN", help="Admin token")] = "",
) -> None:
    """List registered workers (admin token)."""
    reply = api("GET", url, token, "/v1/workers")
    table = Table("id", "status", "connected", "capabilities", "last heartbeat")
    for w in reply["workers"]:
        table.add_row(
            w["id"],
            w["status"],
            str(w.get("connected")),
            ", ".join(w["capabilities"]),
            str(w.get("last_heartbeat_at")),
        )
    console.print(table)


def main() -> None:
    """Entry point. Usage errors print one line (`error: ...`), not a panel, so scripts
    and logs get a message they can grep."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        code = 130
    except typer.TyperException as exc:  # typer's (vendored) click usage errors
        code = _usage_error(exc)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: Exception) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare `englog tasks`: show the help
        exc.show()  # type: ignore[attr-defined]
        return 0
    ctx = getattr(exc, "ctx", None)
    hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    err.print(f"error: {message}{hint}", highlight=False, markup=False)
    return int(getattr(exc, "exit_code", 2))
