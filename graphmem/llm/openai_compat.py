"""The one HTTP chat client: any OpenAI-compatible /chat/completions endpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from graphmem.errors import LLMError
from graphmem.llm.base import ChatResult, Message, estimate_tokens

if TYPE_CHECKING:
    from graphmem.settings import Settings

log = logging.getLogger(__name__)


class OpenAICompatibleBackend:
    """POST {base_url}/chat/completions, as served by OpenAI, vLLM, llama.cpp, Ollama, LM Studio.

    The one HTTP chat client of GraphMem: the LLM extractor asks it for JSON, the benchmarks
    (graphmem.eval) for free text. Network errors, 429 and 5xx are retried transport_retries
    times with an exponential backoff from retry_backoff_s; anything else raises LLMError, so a
    failed request is never mistaken for an empty answer.

    json_mode, temperature and max_tokens are defaults for every request, and each call to
    complete() may override them. JSON mode (response_format) is requested when json_mode is
    on; a server that rejects it with a 400 is asked again without it, and this instance
    remembers not to send it again. max_tokens=None leaves the length to the server.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout_s: float = 60.0, transport_retries: int = 2,
                 json_mode: bool = True, temperature: float = 0.0,
                 max_tokens: int | None = None, retry_backoff_s: float = 0.25,
                 client: httpx.Client | None = None) -> None:
        self.model = model
        self.json_mode = json_mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._retries = max(0, transport_retries)
        self._backoff_s = max(0.0, retry_backoff_s)
        self._client = client or httpx.Client(timeout=timeout_s)
        self._server_json_mode = True

    @classmethod
    def from_settings(cls, settings: Settings, *, json_mode: bool = True,
                      temperature: float = 0.0,
                      max_tokens: int | None = None) -> OpenAICompatibleBackend:
        """The endpoint of llm_base_url, llm_model, llm_api_key, llm_timeout_s and
        llm_max_retries; ExtractionError when the URL or the model is missing."""
        if not settings.llm_base_url or not settings.llm_model:
            raise LLMError("the OpenAI-compatible backend needs GRAPHMEM_LLM_BASE_URL "
                           "and GRAPHMEM_LLM_MODEL")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(settings.llm_base_url, settings.llm_model, api_key=key,
                   timeout_s=settings.llm_timeout_s, transport_retries=settings.llm_max_retries,
                   json_mode=json_mode, temperature=temperature, max_tokens=max_tokens)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def complete(self, messages: Sequence[Message], *, json_mode: bool | None = None,
                 temperature: float | None = None,
                 max_tokens: int | None = None) -> ChatResult:
        """One completion; the keyword arguments override this instance's defaults."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature if temperature is None else temperature,
        }
        limit = max_tokens or self.max_tokens
        if limit:
            body["max_tokens"] = limit
        wants_json = self.json_mode if json_mode is None else json_mode
        if wants_json and self._server_json_mode:
            body["response_format"] = {"type": "json_object"}
        response = self._post(body)
        if response.status_code == 400 and "response_format" in body and (
            "response_format" in response.text
        ):
            log.info("%s rejected response_format; retrying without JSON mode", self._url)
            self._server_json_mode = False
            del body["response_format"]
            response = self._post(body)
        if response.status_code >= 400:
            raise LLMError(f"LLM endpoint {self._url} answered {response.status_code}: "
                           f"{response.text[:300]}")
        return self._result(response, messages)

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST with retries on network errors, 429 and 5xx (the transient failures)."""
        for attempt in range(self._retries + 1):
            try:
                response = self._client.post(self._url, json=body, headers=self._headers)
            except httpx.HTTPError as err:
                if attempt == self._retries:
                    raise LLMError(f"LLM endpoint {self._url} unreachable after "
                                   f"{attempt + 1} attempt(s): {err}") from err
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                if attempt == self._retries:
                    return response
            time.sleep(min(4.0, self._backoff_s * 2**attempt))
        raise AssertionError("unreachable")

    def _result(self, response: httpx.Response, messages: Sequence[Message]) -> ChatResult:
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise LLMError(f"LLM endpoint {self._url} returned no chat completion: "
                           f"{response.text[:300]}") from err
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise LLMError(f"LLM endpoint {self._url} returned non-text content: "
                           f"{response.text[:300]}")
        usage = data.get("usage") or {}
        tokens_in = usage.get("prompt_tokens")
        tokens_out = usage.get("completion_tokens")
        if not isinstance(tokens_in, int):
            tokens_in = sum(estimate_tokens(m["content"]) for m in messages)
        if not isinstance(tokens_out, int):
            tokens_out = estimate_tokens(text)
        return ChatResult(text, tokens_in, tokens_out)
