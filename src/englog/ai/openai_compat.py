"""The `openai` backend: any server with OpenAI's chat completions API (vLLM,
llama.cpp server, LM Studio, Ollama's `/v1`), over plain httpx.

Same design as the ollama backend (`LLMBackend` does the rest): the draft's JSON
schema goes in `response_format` (`json_schema`), `finish_reason == "length"` is a
truncated answer, `logprobs` are asked for and used when returned. Errors: refused
or reset connections, a body that is not JSON, 5xx and 429 (these servers' "busy")
are `AIUnavailable`; a 404 (unknown model or path) and other 4xx are
`AINonRetriable`. Health is `GET /v1/models` with the model listed."""

from __future__ import annotations

from typing import Any

import httpx

from englog.ai.errors import AIModelMissing, AINonRetriable, AIUnavailable
from englog.ai.llm import ChatAnswer, LLMBackend

BACKEND_NAME = "openai"


def api_base(url: str) -> str:
    """Accept the server root or its `/v1`."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


class OpenAICompatBackend(LLMBackend):
    name = BACKEND_NAME

    def __init__(
        self, url: str, model: str, *, client: httpx.AsyncClient | None = None, **kwargs: Any
    ) -> None:
        super().__init__(url, model, **kwargs)
        self._client = client or httpx.AsyncClient(base_url=api_base(self.url), timeout=None)

    def _status_error(self, response: httpx.Response) -> Exception:
        code, text = response.status_code, response.text[:300]
        if code == 404:
            return AIModelMissing(
                f"model {self.model!r} or its API not found on {self.url}: {text}"
            )
        if code == 429 or code >= 500:
            return AIUnavailable(f"{self.name} server answered {code}: {text}")
        return AINonRetriable(f"{self.name} server rejected the request ({code}): {text}")

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body)
            if response.status_code >= 400:
                raise self._status_error(response)
            data: dict[str, Any] = response.json()
        except httpx.TransportError as exc:
            raise AIUnavailable(f"{self.name} server unreachable at {self.url}: {exc!r}") from exc
        except ValueError as exc:
            raise AIUnavailable(f"{self.name} server sent a body that is not JSON: {exc}") from exc
        return data

    async def _chat_once(
        self, messages: list[dict[str, str]], schema: dict[str, Any]
    ) -> ChatAnswer:
        opts = self.options
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": schema.get("title", "answer"),
                    "schema": schema,
                    "strict": True,
                },
            },
            "temperature": opts.temperature,
            "max_tokens": opts.num_predict,
            "logprobs": opts.logprobs,
        }
        if opts.seed is not None:
            body["seed"] = opts.seed
        data = await self._post("/chat/completions", body)
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise AIUnavailable(f"{self.name} server sent no choice: {str(data)[:200]}") from exc
        tokens = (choice.get("logprobs") or {}).get("content") or None
        logprobs = [_Logprob(float(t["logprob"])) for t in tokens] if tokens else None
        return ChatAnswer(content, choice.get("finish_reason") == "length", logprobs)

    PROBE_ERRORS = (httpx.HTTPError, ValueError, AttributeError)

    async def _probe(self) -> dict[str, Any]:
        response = await self._client.get("/models")
        response.raise_for_status()
        listed = {m.get("id") for m in response.json().get("data", [])}
        return {"model_present": self.model in listed}

    async def aclose(self) -> None:
        await self._client.aclose()


class _Logprob:
    __slots__ = ("logprob",)

    def __init__(self, logprob: float) -> None:
        self.logprob = logprob
