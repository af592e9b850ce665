"""AIWatch: what makes AI task types takeable (issue 15 §1)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from englog.worker.ai_watch import NOT_CHECKED, AIWatch
from englog.worker.settings import WorkerSettings


class Backend:
    name = "fake"

    def __init__(self, health: dict[str, Any], usable: tuple[bool, str] = (True, "")) -> None:
        self.answer = health
        self.state = usable
        self.probes = 0

    async def health(self) -> dict[str, Any]:
        self.probes += 1
        await asyncio.sleep(0.01)
        return self.answer

    def usable(self) -> tuple[bool, str]:
        return self.state


def watch(backend: Backend) -> tuple[AIWatch, list[int]]:
    changes: list[int] = []
    w = AIWatch(
        backend,  # type: ignore[arg-type]
        WorkerSettings(),
        lambda: changes.append(1),
        structlog.get_logger("test"),
    )
    return w, changes


async def test_unknown_until_probed_then_usable_once_healthy() -> None:
    w, changes = watch(Backend({"status": "healthy"}))
    assert w.usable == (False, NOT_CHECKED)
    assert await w.recheck() == (True, "")
    assert changes == [1]


async def test_a_missing_model_makes_it_unusable_with_the_fix() -> None:
    error = "model missing: run `ollama pull m:7b`"
    backend = Backend({"status": "unhealthy", "error": error})
    w, _ = watch(backend)
    assert await w.recheck() == (False, error)
    backend.answer = {"status": "healthy"}  # pulled
    assert await w.recheck() == (True, "")


async def test_degrade_keeps_it_usable() -> None:
    w, _ = watch(Backend({"status": "unhealthy", "error": "x", "fallback": "builtin"}))
    assert (await w.recheck())[0] is True


async def test_an_open_breaker_speaks_first() -> None:
    w, _ = watch(Backend({"status": "healthy"}, usable=(False, "circuit open")))
    assert await w.recheck() == (False, "circuit open")


async def test_concurrent_rechecks_share_one_probe() -> None:
    backend = Backend({"status": "healthy"})
    w, _ = watch(backend)
    await asyncio.gather(*(w.recheck() for _ in range(5)))
    assert backend.probes == 1
    await w.recheck()
    assert backend.probes == 2
