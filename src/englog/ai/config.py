"""Configuration of the AI backends: small frozen dataclasses that check themselves,
built by the worker from its flags (`englog worker --ai ... --model ...`)."""

from __future__ import annotations

from dataclasses import dataclass, field

BACKENDS = ("builtin", "ollama", "openai")
FALLBACKS = ("wait", "degrade")
DEFAULT_MODEL = "llama3.2:3b"
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


@dataclass(frozen=True, slots=True)
class AITimeouts:
    """Seconds per call, each retry included anew. insight_s (default 60), report_s
    (default 90), health_s (default 10); model_load_s (default 300) replaces the
    first two until a generation has succeeded, because the first request waits for
    the model to load into memory."""

    insight_s: float = 60.0
    report_s: float = 90.0
    health_s: float = 10.0
    model_load_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("insight_s", "report_s", "health_s", "model_load_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"AI timeout {name} must be > 0, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """Generation settings sent with each request. temperature (default 0.2: factual
    writing), seed (default None: random), num_ctx (default 8192 tokens, also the
    prompt budget), num_predict (default 1024 answer tokens), keep_alive (default
    "10m" in memory after a request), logprobs (default on; servers before Ollama
    0.12.11 ignore it and confidence does without)."""

    temperature: float = 0.2
    seed: int | None = None
    num_ctx: int = 8192
    num_predict: int = 1024
    keep_alive: str = "10m"
    logprobs: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature!r}")
        if self.num_ctx < 2048 or self.num_predict < 128:
            raise ValueError("num_ctx must be >= 2048 and num_predict >= 128")

    def as_ollama(self) -> dict[str, float | int]:
        options: dict[str, float | int] = {
            "temperature": self.temperature,
            "num_ctx": self.num_ctx,
            "num_predict": self.num_predict,
        }
        if self.seed is not None:
            options["seed"] = self.seed
        return options


@dataclass(frozen=True, slots=True)
class AIConfig:
    """backend: builtin|ollama|openai (default builtin); url of the LLM server; model;
    fallback: wait (default: AI tasks stay queued while the LLM is down) or degrade
    (the builtin backend answers, marked degraded); max_repairs: answers outside the
    schema asked again per call (default 2)."""

    backend: str = "builtin"
    url: str = DEFAULT_OLLAMA_URL
    model: str = DEFAULT_MODEL
    fallback: str = "wait"
    timeouts: AITimeouts = field(default_factory=AITimeouts)
    options: ModelOptions = field(default_factory=ModelOptions)
    max_repairs: int = 2

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"--ai must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.fallback not in FALLBACKS:
            raise ValueError(
                f"--ai-fallback must be one of {', '.join(FALLBACKS)}, not {self.fallback!r}"
            )
        if not self.model.strip():
            raise ValueError("--model must not be empty")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(
                f"the LLM server URL must start with http:// or https://: {self.url!r}"
            )
        if self.max_repairs < 0:
            raise ValueError("max_repairs must be >= 0")
