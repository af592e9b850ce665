"""What the server asks this worker to run, as the runner sees it: a plain value, so
the runner (and its tests) never touch protobuf; `session.py` converts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Assignment:
    task_id: str
    type: str
    attempt: int = 1
    payload: bytes = b""  # JSON
    timeout_s: float = 0.0  # 0: the handler's declared timeout, else the default
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_id, self.attempt)
