"""Which event loop and gRPC endpoints `englog server` and `englog worker` run on."""

from __future__ import annotations

import asyncio
import os

import pytest
import typer

from englog.cli import event_loop_factory

uvloop = pytest.importorskip("uvloop")  # a dependency wherever it builds (not on Windows)


@pytest.mark.parametrize("value", [None, "auto", "uvloop", " UVLOOP "])
def test_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("ENGLOG_EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("ENGLOG_EVENT_LOOP", value)
    factory = event_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGLOG_EVENT_LOOP", "asyncio")
    assert event_loop_factory() is None
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        assert not isinstance(runner.get_loop(), uvloop.Loop)


def test_an_unknown_loop_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENGLOG_EVENT_LOOP", "trio")
    with pytest.raises(typer.Exit):
        event_loop_factory()
    assert "ENGLOG_EVENT_LOOP must be auto, asyncio or uvloop" in capsys.readouterr().err


def test_grpc_posix_endpoints_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from englog.cli import POSIX_GRPC_ENDPOINTS, use_posix_grpc_endpoints

    monkeypatch.delenv("GRPC_EXPERIMENTS", raising=False)
    use_posix_grpc_endpoints()
    assert os.environ["GRPC_EXPERIMENTS"] == POSIX_GRPC_ENDPOINTS
    monkeypatch.setenv("GRPC_EXPERIMENTS", "")
    use_posix_grpc_endpoints()
    assert os.environ["GRPC_EXPERIMENTS"] == ""  # the operator's choice stands
