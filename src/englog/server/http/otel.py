"""FastAPI's own OpenTelemetry hooks, on only where OpenTelemetry is set up.

Newer FastAPI asks on every request whether a tracer, meter or logger provider has been
configured: three provider lookups and an environment read, 6 % of the CPU of a task
read (`GET /v1/tasks/{id}`, measured with py-spy). englog configures none itself. A
process that does (under `opentelemetry-instrument`, or with a provider set in code)
does so before the app is built, and FastAPI's own set-up at startup
(FASTAPI_OTEL_AUTO_CONFIGURE) is left alone, so asking once, here, gives the same answer."""

from __future__ import annotations

import inspect
import os
from typing import Any

from fastapi import FastAPI

# The providers the OpenTelemetry API hands out while nothing is configured.
_UNCONFIGURED = {"ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider"}
_OFF = {"tracing": False, "metrics": False, "logs": False}


def fastapi_telemetry() -> dict[str, Any]:
    """`FastAPI(**fastapi_telemetry())`: its telemetry off when no provider is set,
    FastAPI's defaults otherwise (and with a FastAPI too old to have it)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    if os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return {}
    if any(type(p).__name__ not in _UNCONFIGURED for p in _providers()):
        return {}
    return {"telemetry": dict(_OFF)}


def _providers() -> list[object]:
    from opentelemetry import _logs, metrics, trace

    return [trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()]
