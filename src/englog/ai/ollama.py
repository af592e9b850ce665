"""The `ollama` backend, on the official `ollama` AsyncClient.

Chat with the draft's JSON schema as `format` and `think` off, so the answer is the
JSON object alone; `options` and `keep_alive` from `ModelOptions`. The client has no
timeout and no retry of its own (`timeout=None`): `LLMBackend` bounds and retries each
call. Errors are translated here, at the boundary:

- refused or reset connection, a response that is not JSON, timeout, 5xx, 503 busy:
  `AIUnavailable` (retried, counted by the breaker);
- 404: the model is missing, `AINonRetriable` with the `ollama pull <model>` hint;
- any other 4xx: `AINonRetriable` (the request itself is wrong).

Health is `/api/version` plus the model in `/api/tags`; never a generation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import ollama
import pydantic

from englog.ai.errors import AIModelMissing, AINonRetriable, AIUnavailable
from englog.ai.llm import ChatAnswer, LLMBackend

BACKEND_NAME = "ollama"


def with_tag(model: str) -> str:
    """Ollama names a model without a tag `<name>:latest`."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


class OllamaBackend(LLMBackend):
    """An Ollama server; `client` is a seam for tests (default: AsyncClient(url))."""

    name = BACKEND_NAME

    def __init__(
        self, url: str, model: str, *, client: ollama.AsyncClient | None = None, **kwargs: Any
    ) -> None:
        super().__init__(url, model, **kwargs)
        self._client = client or ollama.AsyncClient(host=self.url, timeout=None)

    def _error(self, exc: Exception) -> Exception:
        if isinstance(exc, ollama.ResponseError):
            code = exc.status_code
            if code == 404:
                return AIModelMissing(
                    f"model {self.model!r} is not available on {self.url} ({exc.error}); "
                    f"run `ollama pull {self.model}` on that machine"
                )
            if 400 <= code < 500:
                return AINonRetriable(f"ollama rejected the request ({code}): {exc.error}")
            busy = " (server busy)" if code == 503 else ""
            return AIUnavailable(f"ollama answered {code}{busy}: {exc.error}")
        if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
            return AIUnavailable(f"ollama sent a response that is not valid JSON: {exc}")
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return AIUnavailable(f"ollama unreachable at {self.url}: {detail}")

    async def _chat_once(
        self, messages: list[dict[str, str]], schema: dict[str, Any]
    ) -> ChatAnswer:
        opts = self.options
        try:
            response = await self._client.chat(
                model=self.model,
                messages=messages,
                format=schema,
                think=False,
                options=opts.as_ollama(),
                keep_alive=opts.keep_alive,
                logprobs=opts.logprobs or None,
            )
        except (ollama.ResponseError, httpx.TransportError, ConnectionError, ValueError) as exc:
            raise self._error(exc) from exc
        return ChatAnswer(
            content=response.message.content or "",
            truncated=response.done_reason == "length",
            logprobs=response.logprobs,
        )

    PROBE_ERRORS = (ollama.ResponseError, httpx.TransportError, ConnectionError, ValueError)

    def _probe_error(self, exc: Exception) -> str:
        return str(self._error(exc))

    def _missing_model(self) -> str:
        return f"model missing: run `ollama pull {self.model}`"

    async def _probe(self) -> dict[str, Any]:
        raw = await self._client._request_raw("GET", "/api/version")  # no public method
        listed = await self._client.list()
        names = {with_tag(m.model or "") for m in listed.models}
        return {
            "version": raw.json().get("version"),
            "model_present": with_tag(self.model) in names,
        }

    async def aclose(self) -> None:
        await self._client.close()
