"""How the long-running commands (`server`, `worker`) run: the event loop, gRPC's
socket endpoints, signals, and `--retention`-style durations."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from englog.cli._app import err, fail

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
