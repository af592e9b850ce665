"""Whether this worker can run AI tasks now; the answer drives the capacity it
advertises per task type (zero for AI types while the backend is unusable, so those
tasks wait in the queue for a worker that can run them) and `/readiness`.

Two sources: the backend's own `usable()` (its breaker, read every
`ai_watch_interval_s`) and its `health()` probe (never a generation: is the server up,
does it serve the model?), asked every `ai_health_interval_s`, and more often while it
fails so the worker becomes usable by itself soon after the model is pulled. With
`--ai-fallback degrade` a failed probe does not make the backend unusable: the builtin
backend answers instead (results marked degraded)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from englog.ai.backend import AIBackend
from englog.worker.settings import WorkerSettings

# While the probe fails, it is repeated at least this often.
UNHEALTHY_RECHECK_S = 5.0
NOT_CHECKED = "AI backend not checked yet"
_HEALTHY = (None, "healthy", "ok", "open")  # "open": the breaker speaks for itself


class AIWatch:
    def __init__(
        self,
        backend: AIBackend,
        settings: WorkerSettings,
        on_change: Callable[[], None],
        log: Any,
    ) -> None:
        self.backend = backend
        self._watch_s = settings.ai_watch_interval_s
        self._health_s = settings.ai_health_interval_s
        self._on_change = on_change
        self._log = log
        # Unknown until the first probe has answered: AI capacity is not advertised
        # before we know the backend can serve it (the probe usually takes a moment).
        self.usable: tuple[bool, str] = (False, NOT_CHECKED)
        self.health: dict[str, Any] | None = None
        self._recheck: asyncio.Future[None] | None = None

    def _probe_verdict(self) -> str | None:
        """Why the last probe makes the backend unusable, or None."""
        health = self.health
        if health is None:
            return NOT_CHECKED
        if health.get("status") in _HEALTHY or "fallback" in health:
            return None
        return str(health.get("error") or health.get("status"))

    def _state(self) -> tuple[bool, str]:
        usable = getattr(self.backend, "usable", None)
        state: tuple[bool, str] = usable() if callable(usable) else (True, "")
        if not state[0]:
            return state
        why = self._probe_verdict()
        return (True, "") if why is None else (False, why)

    def refresh(self) -> None:
        """Take the current state; a change is told at once (the heartbeat), so AI
        tasks stop (or resume) being routed here."""
        state = self._state()
        was = self.usable
        self.usable = state
        if state[0] != was[0]:
            if was[1] != NOT_CHECKED:
                self._log.warning("ai_usability_changed", usable=state[0], reason=state[1])
            self._on_change()

    async def run(self) -> None:
        next_health = 0.0
        while True:
            self.refresh()
            if time.monotonic() >= next_health:
                await self.check_health()
                interval = self._health_s
                if self._probe_verdict() is not None:
                    interval = min(interval, UNHEALTHY_RECHECK_S)
                next_health = time.monotonic() + interval
                self.refresh()
            await asyncio.sleep(self._watch_s)

    async def check_health(self) -> None:
        try:
            health = await self.backend.health()
        except Exception as exc:  # a backend's bug must not stop the watch
            health = {"status": "unhealthy", "error": f"{type(exc).__name__}: {exc}"}
        was = (self.health or {}).get("status")
        self.health = health
        if health.get("status") not in (None, "healthy", "ok") and was != health.get("status"):
            self._log.warning("ai_backend_unhealthy", **{k: str(v) for k, v in health.items()})

    async def recheck(self) -> tuple[bool, str]:
        """Probe now and say whether the backend is usable. Callers that ask while a
        probe is under way share it: a burst of failed tasks costs one probe."""
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.ensure_future(self.check_health())
        probe = self._recheck
        await asyncio.shield(probe)
        self.refresh()
        return self.usable
