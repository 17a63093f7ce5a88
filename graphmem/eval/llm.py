"""The chat model behind the LLM-backed parts of the benchmarks, and their prompt helpers.

The model is the one graphmem.llm.factory configures: an OpenAI-compatible endpoint
(``OpenAICompatibleBackend``, in free-text mode with a bounded answer length; transient
failures are retried there) or the local transformers model (``GRAPHMEM_LLM_LOCAL_MODEL``, e.g.
``smollm2``), adapted here to the benchmarks' calling convention. Anything that fails raises
:class:`LLMError`, since a silently skipped item would bias a benchmark score. Configuration
comes from ``graphmem.settings.Settings`` (llm_base_url, llm_model, llm_api_key,
llm_local_model, llm_timeout_s, llm_max_retries, llm_max_new_tokens).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from graphmem.eval.protocol import Retrieved
from graphmem.llm import (
    ChatResult,
    LLMError,
    Message,
    OpenAICompatibleBackend,
    TransformersBackend,
    backend_from_settings,
    llm_configured,
)

if TYPE_CHECKING:
    from graphmem.settings import Settings

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "BenchmarkChat",
    "LLMError",
    "LocalBenchmarkChat",
    "OpenAICompatibleBackend",
    "chat_from_settings",
    "memory_block",
    "parse_yes_no",
]

DEFAULT_MAX_TOKENS = 512
"""Answer length of a benchmark request unless the call asks for another."""


class BenchmarkChat(Protocol):
    """What the benchmarks ask of a model: free-text completions with a per-call length, and
    a close() when the run ends. OpenAICompatibleBackend is one as it stands."""

    model: str

    def complete(self, messages: Sequence[Message], *, json_mode: bool | None = None,
                 max_tokens: int | None = None) -> ChatResult: ...

    def close(self) -> None: ...


class LocalBenchmarkChat:
    """The local transformers model in the benchmarks' convention: max_tokens is its
    generation limit, and json_mode is moot (greedy free text is all it does; the benchmark
    prompts ask for text)."""

    def __init__(self, backend: TransformersBackend) -> None:
        self.backend = backend
        self.model = backend.model

    def complete(self, messages: Sequence[Message], *, json_mode: bool | None = None,
                 max_tokens: int | None = None) -> ChatResult:
        return self.backend.complete(messages, max_new_tokens=max_tokens)

    def close(self) -> None:
        """Nothing to release: the weights go with the object."""


def chat_from_settings(settings: Settings) -> BenchmarkChat | None:
    """The configured model as a free-text client (an endpoint, else the local model), or
    None when none is configured. One client per run, closed by the caller."""
    if not llm_configured(settings):
        return None
    backend = backend_from_settings(settings, json_mode=False, max_tokens=DEFAULT_MAX_TOKENS)
    if isinstance(backend, OpenAICompatibleBackend):
        return backend
    if isinstance(backend, TransformersBackend):
        return LocalBenchmarkChat(backend)
    raise LLMError(f"no benchmark client for the {type(backend).__name__} backend")


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
