"""`englog certs init DIR`: the certificates for running a server and its workers over
TLS (and mutual TLS), then the flags that use them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from englog.cli._app import certs_app, console, fail


@certs_app.command("init")
def certs_init(
    directory: Annotated[Path, typer.Argument(help="Where to write the PEM files")],
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="A name or address workers dial the server by (repeatable;"
            " default localhost and 127.0.0.1)",
        ),
    ] = None,
    days: Annotated[int, typer.Option(help="Days the server and worker certificates last")] = 825,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files")] = False,
) -> None:
    """Make a CA, a server certificate for the given hosts and a worker client
    certificate (ca.crt, server.crt/key, worker.crt/key)."""
    from englog.certs import DEFAULT_HOSTS, CertError, init

    hosts = tuple(host) if host else DEFAULT_HOSTS
    try:
        pki = init(directory, hosts, days=days, force=force)
    except CertError as exc:
        fail(str(exc))
    console.print(f"wrote a CA, a server certificate for {', '.join(hosts)} and a worker"
                  f" certificate in {directory}", highlight=False)  # fmt: skip
    commands = {
        "server (add --tls-ca for mutual TLS)": f"englog server --tls-cert {pki.server_cert}"
        f" --tls-key {pki.server_key} --tls-ca {pki.ca}",
        "worker": f"englog worker --tls-ca {pki.ca} --tls-cert {pki.worker_cert}"
        f" --tls-key {pki.worker_key}",
    }
    for role, command in commands.items():
        console.print(f"{role}:", highlight=False)
        console.print(f"  {command}", highlight=False, soft_wrap=True)
    console.print(f"keep {pki.ca_key} offline: it signs new certificates", highlight=False)
