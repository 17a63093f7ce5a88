"""A small OpenAI-compatible chat client for the LLM-backed parts of the benchmarks.

Only ``POST {base_url}/chat/completions`` is used, so any server speaking that dialect works
(vLLM, llama.cpp, Ollama, OpenAI). Transient failures (connection errors, 429, 5xx) are retried
with a short backoff; anything else fails loudly, since a silently skipped item would bias a
benchmark score. Configuration comes from ``graphmem.settings.Settings`` (llm_base_url,
llm_model, llm_api_key, llm_timeout_s, llm_max_retries).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from graphmem.eval.protocol import Retrieved

if TYPE_CHECKING:
    from graphmem.settings import Settings

Message = dict[str, str]


class LLMError(RuntimeError):
    """The endpoint failed or answered something that is not a chat completion."""


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    temperature: float = 0.0
    max_tokens: int = 512
    retry_backoff_s: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMConfig | None:
        """The configured endpoint, or None when base URL or model is missing."""
        if not settings.llm_base_url or not settings.llm_model:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=key,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
        )


class ChatClient:
    """Synchronous chat completions; one client per run, closed by the caller."""

    def __init__(self, config: LLMConfig, http: httpx.Client | None = None) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = http or httpx.Client(timeout=config.timeout_s, headers=headers)
        self._url = config.base_url.rstrip("/") + "/chat/completions"

    def complete(self, messages: Sequence[Message], max_tokens: int | None = None) -> str:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": list(messages),
            "temperature": self.config.temperature,
            "max_tokens": max_tokens or self.config.max_tokens,
        }
        last: Exception | None = None
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(self.config.retry_backoff_s * attempt)
            try:
                response = self._http.post(self._url, json=body)
            except httpx.TransportError as exc:
                last = exc
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = LLMError(f"{self._url} answered {response.status_code}")
                continue
            if response.status_code >= 400:
                raise LLMError(f"{self._url} answered {response.status_code}: {response.text}")
            return _content(response)
        raise LLMError(f"no completion after {self.config.max_retries + 1} attempts: {last}")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _content(response: httpx.Response) -> str:
    try:
        data = response.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"not a chat completion: {response.text[:200]}") from exc
    if not isinstance(content, str):
        raise LLMError("completion content is not text")
    return content


def memory_block(memories: Sequence[Retrieved]) -> str:
    """Retrieved memories as a numbered list for a prompt ("(none)" when empty)."""
    if not memories:
        return "(none)"
    return "\n".join(f"{i}. {m.text.strip()}" for i, m in enumerate(memories, 1))


_YES_NO = re.compile(r"answer\s*[:=]?\s*\**\s*(yes|no)\b", re.IGNORECASE)
_LEADING_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def parse_yes_no(text: str) -> bool | None:
    """Last "Answer: yes/no" in ``text``, else a leading yes/no, else None."""
    found = _YES_NO.findall(text)
    if found:
        return str(found[-1]).lower() == "yes"
    lead = _LEADING_YES_NO.match(text)
    return None if lead is None else lead.group(1).lower() == "yes"
