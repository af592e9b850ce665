"""uvicorn, run the way englog's processes need it.

The process owns SIGTERM/SIGINT (it drains gRPC and workers first), so uvicorn must not
install its own handlers; listeners are bound before anything starts, so a taken port is
a clear error at once; and uvicorn has no "started" event to await, so `serve` offers one."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from typing import Any

import uvicorn

from englog.addresses import split_hostport

# httptools parses HTTP in C (h11, the pure-Python fallback, cost ~7 % of the server's
# main thread under load).
HTTP_PARSER = "httptools" if importlib.util.find_spec("httptools") else "h11"
# How often `serve` looks at uvicorn's `started` flag (it offers nothing to await).
_STARTED_POLL_S = 0.01


def bind_listener(listen: str, flag: str, what: str) -> socket.socket:
    """Bind `listen` (HOST:PORT, as given to `flag`). OSError says "cannot listen for
    {what} on {listen}: reason"; ValueError names the flag for a malformed address."""
    host, port = split_hostport(listen, flag)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it a keep-alive response (headers and body
    # written separately) waits ~40 ms for the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or exc
        raise OSError(f"cannot listen for {what} on {listen}: {reason}") from exc
    return sock


def _protocol(coalesce_writes: bool) -> Any:
    """httptools with one write per response (`coalescing`) when asked, else the parser."""
    if not coalesce_writes or HTTP_PARSER != "httptools":
        return HTTP_PARSER
    from englog.serving.coalescing import CoalescingHttpToolsProtocol

    return CoalescingHttpToolsProtocol


# Descriptors kept for everything but HTTP connections (store, gRPC, logs).
_FD_RESERVE = 256


def _fd_bound(total: int) -> int:
    """`total`, lowered to what the process's descriptor limit leaves for connections."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return total
    return max(16, min(total, soft - _FD_RESERVE))


def _httptools_protocol() -> type[Any]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol


async def serve(
    app: Any,
    sock: socket.socket,
    *,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
    coalesce_writes: bool = False,
    idle_timeout_s: float = 5.0,
    read_timeout_s: float | None = None,
    connection_caps: tuple[int, int] | None = None,
    trusted_proxies: tuple[str, ...] = (),
) -> None:
    """Serve `app` on the bound `sock` until `stop` is set (graceful: in-flight requests
    finish) or until cancelled (abrupt). `started` is set once connections are accepted.
    The socket is closed on return. A keep-alive connection idle for `idle_timeout_s`
    is closed; with `read_timeout_s`, so is one whose request does not arrive complete
    within it (`englog.serving.read_deadline`; httptools only). `connection_caps`
    (per address, in all) closes connections beyond them at once
    (`englog.serving.connection_caps`; httptools only). `X-Forwarded-*` headers are
    believed only from `trusted_proxies` (none by default; uvicorn's own default
    trusts 127.0.0.1)."""
    http = _protocol(coalesce_writes)
    if read_timeout_s is not None and HTTP_PARSER == "httptools":
        from englog.serving.read_deadline import with_read_deadline

        base = http if isinstance(http, type) else _httptools_protocol()
        http = with_read_deadline(base, read_timeout_s)
    if connection_caps is not None and HTTP_PARSER == "httptools":
        from englog.serving.connection_caps import ConnectionCounts, with_connection_caps

        base = http if isinstance(http, type) else _httptools_protocol()
        per_address, total = connection_caps
        http = with_connection_caps(base, ConnectionCounts(per_address, _fd_bound(total)))
    config = uvicorn.Config(
        app,
        http=http,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or "",
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=idle_timeout_s,  # type: ignore[arg-type]  # a float works
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    watcher = asyncio.create_task(_supervise(server, stop, started), name="http-supervisor")
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        with contextlib.suppress(OSError):
            sock.close()


async def _supervise(
    server: uvicorn.Server, stop: asyncio.Event | None, started: asyncio.Event | None
) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event to await
        await asyncio.sleep(_STARTED_POLL_S)
    if started is not None:
        started.set()
    if stop is not None:
        await stop.wait()
        server.should_exit = True
