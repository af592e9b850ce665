"""FastAPI's own OpenTelemetry hooks: off where nothing is set up, FastAPI's defaults
where something is (englog.server.http.otel)."""

from __future__ import annotations

import pytest

from englog.server.http import otel


class _SdkTracerProvider:
    """Stands in for a configured provider (any class but the API's proxies)."""


def test_off_when_no_provider_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    assert otel.fastapi_telemetry() == {
        "telemetry": {"tracing": False, "metrics": False, "logs": False}
    }


def test_defaults_kept_when_a_provider_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    real = otel._providers()
    monkeypatch.setattr(otel, "_providers", lambda: [_SdkTracerProvider(), *real[1:]])
    assert otel.fastapi_telemetry() == {}


def test_defaults_kept_when_fastapi_configures_it_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert otel.fastapi_telemetry() == {}
