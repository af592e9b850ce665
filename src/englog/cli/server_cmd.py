"""`englog server`: its flags as one options object, turned into `ServerSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from englog.cli._app import app, fail
from englog.cli._options import command_from
from englog.cli._run import parse_duration, run_until_signal, use_posix_grpc_endpoints
from englog.logs import configure_logging

if TYPE_CHECKING:
    from englog.server.ratelimit import HttpLimits


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """`englog server`'s flags; each also reads the ENGLOG_* variable it names."""

    db: Annotated[str, typer.Option(envvar="ENGLOG_DB", help="Store URL")] = "sqlite:///englog.db"
    grpc_listen: Annotated[
        str, typer.Option(envvar="ENGLOG_GRPC_LISTEN", help="gRPC address for workers")
    ] = "127.0.0.1:50051"
    http_listen: Annotated[str, typer.Option(envvar="ENGLOG_HTTP_LISTEN", help="REST address")] = (
        "127.0.0.1:8080"
    )
    heartbeat_interval: Annotated[
        float, typer.Option(envvar="ENGLOG_HEARTBEAT_INTERVAL", min=0.05, help="Seconds")
    ] = 5.0
    lease_ttl: Annotated[
        float, typer.Option(envvar="ENGLOG_LEASE_TTL", min=0.1, help="Seconds")
    ] = 30.0
    worker_tokens: Annotated[
        str, typer.Option(envvar="ENGLOG_WORKER_TOKENS", help="Comma-separated worker tokens")
    ] = ""
    admin_token: Annotated[
        str | None, typer.Option(envvar="ENGLOG_ADMIN_TOKEN", help="Admin API token")
    ] = None
    allow_signup: Annotated[
        bool,
        typer.Option(
            "--allow-signup",
            envvar="ENGLOG_ALLOW_SIGNUP",
            help="Let anyone create a member account at /app/signup (off by default)",
        ),
    ] = False
    tls_cert: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_CERT")] = None
    tls_key: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_KEY")] = None
    tls_ca: Annotated[
        str | None, typer.Option(envvar="ENGLOG_TLS_CA", help="CA for client certs (mTLS)")
    ] = None
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            envvar="ENGLOG_INSECURE",
            help="Serve plaintext gRPC (no TLS): only when asked",
        ),
    ] = False
    retention: Annotated[
        str,
        typer.Option(
            envvar="ENGLOG_RETENTION",
            help="Delete finished tasks older than this: seconds, or a number with s/m/h/d",
        ),
    ] = "7d"
    max_reassignments: Annotated[
        int,
        typer.Option(
            envvar="ENGLOG_MAX_REASSIGNMENTS",
            min=0,
            help="Times a task may be taken back from lost workers before it fails",
        ),
    ] = 10
    # REST limits (englog.server.ratelimit.HttpLimits; README "Rate limits"): a rate of 0
    # turns that limit off.
    submit_rate: Annotated[
        float,
        typer.Option(envvar="ENGLOG_SUBMIT_RATE", min=0, help="Submissions/s per token"),
    ] = 200.0
    submit_burst: Annotated[
        int, typer.Option(envvar="ENGLOG_SUBMIT_BURST", min=1, help="Submission burst per token")
    ] = 400
    request_rate: Annotated[
        float,
        typer.Option(envvar="ENGLOG_REQUEST_RATE", min=0, help="Other requests/s per token"),
    ] = 1000.0
    request_burst: Annotated[
        int, typer.Option(envvar="ENGLOG_REQUEST_BURST", min=1, help="Request burst per token")
    ] = 2000
    anonymous_rate: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_ANONYMOUS_RATE",
            min=0,
            help="Requests/s per client address without a known token",
        ),
    ] = 100.0
    anonymous_burst: Annotated[
        int, typer.Option(envvar="ENGLOG_ANONYMOUS_BURST", min=1, help="Burst per address")
    ] = 200
    max_waits_per_token: Annotated[
        int,
        typer.Option(
            envvar="ENGLOG_MAX_WAITS_PER_TOKEN",
            min=0,
            help="Long polls / Prefer: wait held at once per token; more answer at once",
        ),
    ] = 100
    max_waits: Annotated[
        int,
        typer.Option(envvar="ENGLOG_MAX_WAITS", min=0, help="Waiting requests held in all"),
    ] = 1000
    http_idle_timeout: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_HTTP_IDLE_TIMEOUT", min=0.1, help="Close idle keep-alive after (s)"
        ),
    ] = 5.0
    http_read_timeout: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_HTTP_READ_TIMEOUT",
            min=0.1,
            help="A request must arrive complete within (s), else its connection is closed",
        ),
    ] = 15.0
    max_running_per_user: Annotated[
        int,
        typer.Option(
            envvar="ENGLOG_MAX_RUNNING_PER_USER",
            min=0,
            help="Tasks one user may have running at once (0: no cap; the admin's never)",
        ),
    ] = 2
    max_queued_per_user: Annotated[
        int,
        typer.Option(
            envvar="ENGLOG_MAX_QUEUED_PER_USER",
            min=0,
            help="Unfinished (pending or running) tasks one user may have (0: no cap)",
        ),
    ] = 1000
    trusted_proxies: Annotated[
        str,
        typer.Option(
            envvar="ENGLOG_TRUSTED_PROXIES",
            help="Comma-separated addresses whose X-Forwarded-For is believed (default none)",
        ),
    ] = ""
    max_connections_per_address: Annotated[
        int,
        typer.Option(
            envvar="ENGLOG_MAX_CONNECTIONS_PER_ADDRESS",
            min=1,
            help="Open HTTP connections one client address may hold",
        ),
    ] = 1024
    max_connections: Annotated[
        int,
        typer.Option(envvar="ENGLOG_MAX_CONNECTIONS", min=1, help="Open HTTP connections in all"),
    ] = 8192
    metrics_token: Annotated[
        str | None,
        typer.Option(
            envvar="ENGLOG_METRICS_TOKEN", help="Bearer token /metrics requires (default: none)"
        ),
    ] = None
    worker_credentials_only: Annotated[
        bool,
        typer.Option(
            "--worker-credentials-only",
            envvar="ENGLOG_WORKER_CREDENTIALS_ONLY",
            help="Start without shared worker tokens: workers use their own credentials",
        ),
    ] = False
    bind_worker_certs: Annotated[
        bool,
        typer.Option(
            "--bind-worker-certs",
            envvar="ENGLOG_BIND_WORKER_CERTS",
            help="With mutual TLS: a worker registers only under a name its certificate carries",
        ),
    ] = False
    api_docs: Annotated[
        bool,
        typer.Option(
            "--api-docs",
            envvar="ENGLOG_API_DOCS",
            help="Serve /docs and /redoc (their scripts come from a CDN)",
        ),
    ] = False
    log_level: Annotated[str, typer.Option(envvar="ENGLOG_LOG_LEVEL")] = "info"


def _http_limits(opts: ServerOptions) -> HttpLimits:
    from englog.server.ratelimit import HttpLimits, Rate

    return HttpLimits(
        submit=Rate(opts.submit_rate, opts.submit_burst),
        requests=Rate(opts.request_rate, opts.request_burst),
        anonymous=Rate(opts.anonymous_rate, opts.anonymous_burst),
        waits_per_token=opts.max_waits_per_token,
        waits_total=opts.max_waits,
        idle_timeout_s=opts.http_idle_timeout,
        read_timeout_s=opts.http_read_timeout,
        connections_per_address=opts.max_connections_per_address,
        connections_total=opts.max_connections,
    )


@app.command()
@command_from(ServerOptions)
def server(opts: ServerOptions) -> None:
    """Run the server: REST for people, gRPC for workers, the durable task queue."""
    use_posix_grpc_endpoints()
    from englog.server import ServerSettings, serve
    from englog.store import StoreError

    configure_logging(opts.log_level)
    tokens = tuple(t.strip() for t in opts.worker_tokens.split(",") if t.strip())
    if not tokens and not opts.worker_credentials_only:
        fail(
            "no worker tokens: set ENGLOG_WORKER_TOKENS (comma separated) or --worker-tokens,"
            " or give --worker-credentials-only when every worker has its own credential"
            " (englog workers create)"
        )
    if not opts.tls_cert and not opts.insecure:
        fail("no TLS certificate: give --tls-cert and --tls-key, or --insecure for plaintext gRPC")
    try:
        settings = ServerSettings(
            db_url=opts.db,
            grpc_listen=opts.grpc_listen,
            http_listen=opts.http_listen,
            heartbeat_interval_s=opts.heartbeat_interval,
            lease_ttl_s=opts.lease_ttl,
            worker_tokens=tokens,
            admin_token=opts.admin_token,
            allow_signup=opts.allow_signup,
            tls_cert=opts.tls_cert,
            tls_key=opts.tls_key,
            tls_ca=opts.tls_ca,
            retention_s=parse_duration(opts.retention, "--retention"),
            max_reassignments=opts.max_reassignments,
            http_limits=_http_limits(opts),
            max_running_per_user=opts.max_running_per_user,
            max_queued_per_user=opts.max_queued_per_user,
            trusted_proxies=tuple(p.strip() for p in opts.trusted_proxies.split(",") if p.strip()),
            metrics_token=opts.metrics_token or None,
            api_docs=opts.api_docs,
            bind_worker_certs=opts.bind_worker_certs,
        )
        run_until_signal(lambda stop: serve(settings, stop))
    except (StoreError, ValueError) as exc:
        fail(str(exc))
