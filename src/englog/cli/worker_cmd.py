"""`englog worker`: its flags as one options object, turned into `WorkerSettings`."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from englog.cli._app import app, err, fail
from englog.cli._options import command_from
from englog.cli._run import run_until_signal, use_posix_grpc_endpoints
from englog.logs import configure_logging

if TYPE_CHECKING:
    from englog.worker import WorkerSettings

GAVE_UP_EXIT = 3  # the server refused the token for --give-up-after seconds


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """`englog worker`'s flags; each also reads the ENGLOG_* variable it names."""

    server: Annotated[str, typer.Option(envvar="ENGLOG_SERVER", help="Server gRPC HOST:PORT")] = (
        "127.0.0.1:50051"
    )
    token: Annotated[str, typer.Option(envvar="ENGLOG_WORKER_TOKEN", help="Worker token")] = ""
    concurrency: Annotated[int, typer.Option(envvar="ENGLOG_CONCURRENCY", min=1, max=1024)] = 4
    health_listen: Annotated[str | None, typer.Option(envvar="ENGLOG_HEALTH_LISTEN")] = None
    ai: Annotated[
        str, typer.Option(envvar="ENGLOG_AI", help="builtin|ollama|openai (OpenAI-compatible)")
    ] = "builtin"
    ollama_url: Annotated[
        str, typer.Option(envvar="ENGLOG_OLLAMA_URL", help="LLM server URL (ollama or openai)")
    ] = "http://127.0.0.1:11434"
    model: Annotated[str, typer.Option(envvar="ENGLOG_MODEL")] = "llama3.2:3b"
    ai_fallback: Annotated[
        str,
        typer.Option(
            envvar="ENGLOG_AI_FALLBACK",
            help="While the LLM is down: wait (AI tasks stay queued) or degrade (builtin answers)",
        ),
    ] = "wait"
    insight_timeout: Annotated[
        float, typer.Option(envvar="ENGLOG_INSIGHT_TIMEOUT", help="Seconds per insight call")
    ] = 60.0
    report_timeout: Annotated[
        float, typer.Option(envvar="ENGLOG_REPORT_TIMEOUT", help="Seconds per report call")
    ] = 90.0
    ai_health_timeout: Annotated[
        float, typer.Option(envvar="ENGLOG_AI_HEALTH_TIMEOUT", help="Seconds per health check")
    ] = 10.0
    model_load_timeout: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_MODEL_LOAD_TIMEOUT", help="Seconds for calls until the model is loaded"
        ),
    ] = 300.0
    num_ctx: Annotated[int, typer.Option(envvar="ENGLOG_NUM_CTX", help="Context tokens")] = 8192
    num_predict: Annotated[int, typer.Option(envvar="ENGLOG_NUM_PREDICT", help="Answer tokens")] = (
        1024
    )
    temperature: Annotated[float, typer.Option(envvar="ENGLOG_TEMPERATURE")] = 0.2
    seed: Annotated[int | None, typer.Option(envvar="ENGLOG_SEED")] = None
    keep_alive: Annotated[
        str, typer.Option(envvar="ENGLOG_KEEP_ALIVE", help="How long the model stays loaded")
    ] = "10m"
    outbox: Annotated[str | None, typer.Option(envvar="ENGLOG_OUTBOX")] = None
    outbox_linger: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_OUTBOX_LINGER",
            min=0,
            max=1,
            help="Seconds a finished result waits for its acknowledgement before the"
            " outbox writes it (0: at once)",
        ),
    ] = 0.005
    worker_id: Annotated[str | None, typer.Option(envvar="ENGLOG_WORKER_ID")] = None
    handlers: Annotated[
        list[str] | None, typer.Option(envvar="ENGLOG_HANDLERS", help="Module with @handler")
    ] = None
    drain_timeout: Annotated[float, typer.Option(envvar="ENGLOG_DRAIN_TIMEOUT", min=0)] = 30.0
    health_check_interval: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_HEALTH_CHECK_INTERVAL",
            min=0.1,
            help="Seconds between gRPC health checks of the server",
        ),
    ] = 30.0
    give_up_after: Annotated[
        float,
        typer.Option(
            envvar="ENGLOG_GIVE_UP_AFTER",
            min=0,
            help="Exit (code 3) when the server refuses the token this long, in seconds"
            " (0: never); unreachable servers are retried forever",
        ),
    ] = 300.0
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", envvar="ENGLOG_INSECURE", help="Plaintext gRPC: only when asked"
        ),
    ] = False
    tls_cert: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_CERT")] = None
    tls_key: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_KEY")] = None
    tls_ca: Annotated[str | None, typer.Option(envvar="ENGLOG_TLS_CA")] = None
    log_level: Annotated[str, typer.Option(envvar="ENGLOG_LOG_LEVEL")] = "info"

    def settings(self, worker_id: str) -> WorkerSettings:
        from englog.ai.config import AITimeouts, ModelOptions
        from englog.worker import WorkerSettings

        timeouts = AITimeouts(
            insight_s=self.insight_timeout,
            report_s=self.report_timeout,
            health_s=self.ai_health_timeout,
            model_load_s=self.model_load_timeout,
        )
        model = ModelOptions(
            temperature=self.temperature,
            seed=self.seed,
            num_ctx=self.num_ctx,
            num_predict=self.num_predict,
            keep_alive=self.keep_alive,
        )
        return WorkerSettings(
            server=self.server,
            token=self.token,
            worker_id=worker_id,
            concurrency=self.concurrency,
            health_listen=self.health_listen,
            ai=self.ai,
            ollama_url=self.ollama_url,
            model=self.model,
            ai_fallback=self.ai_fallback,
            ai_timeouts=timeouts,
            ai_options=model,
            outbox=self.outbox,
            outbox_linger_s=self.outbox_linger,
            insecure=self.insecure,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            tls_ca=self.tls_ca,
            drain_timeout_s=self.drain_timeout,
            health_check_interval_s=self.health_check_interval,
            give_up_after_s=self.give_up_after,
        )


@app.command()
@command_from(WorkerOptions)
def worker(opts: WorkerOptions) -> None:
    """Run a worker: dial the server, pull tasks, run them, report results."""
    use_posix_grpc_endpoints()
    from englog.ai.backend import make_backend
    from englog.worker import HandlerLoadError, Outbox, OutboxError, Worker, load_handlers
    from englog.worker.settings import default_worker_id

    configure_logging(opts.log_level)
    if not opts.token:
        fail("no worker token: set ENGLOG_WORKER_TOKEN or --token")
    try:
        registry = load_handlers(opts.handlers)
        # A restarted worker keeps the id its outbox remembers, so the results it left
        # there are still its own to report.
        worker_id = (
            opts.worker_id or Outbox.remembered_worker_id(opts.outbox) or default_worker_id()
        )
        settings = opts.settings(worker_id)
        w = Worker(settings, registry, backend=make_backend(settings.ai_config()))
    except (HandlerLoadError, ValueError, OSError, OutboxError) as exc:
        fail(str(exc))
    from englog.worker.session import CredentialRefused

    async def work(stop: asyncio.Event) -> None:
        try:
            await w.run(stop)
        except* CredentialRefused as group:
            fail(str(group.exceptions[0]), GAVE_UP_EXIT)

    run_until_signal(work)
    if w.runner.busy_threads:
        # Sync handlers past their deadline hold threads that cannot be killed; the
        # interpreter would wait for them at exit, beyond --drain-timeout. Results
        # are reported or in the outbox by now, so leave without them.
        err.print(f"exiting without {w.runner.busy_threads} handler thread(s) still running")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
