"""The chat model behind the LLM-backed parts of the benchmarks, and their prompt helpers.

There is one OpenAI-compatible client in GraphMem, ``OpenAICompatibleBackend`` in
``graphmem.llm``; the benchmarks use it in free-text mode (no JSON mode, a bounded
answer length). Transient failures (connection errors, 429, 5xx) are retried there; anything
else raises :class:`LLMError`, since a silently skipped item would bias a benchmark score.
Configuration comes from ``graphmem.settings.Settings`` (llm_base_url, llm_model, llm_api_key,
llm_timeout_s, llm_max_retries).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from graphmem.eval.protocol import Retrieved
from graphmem.llm import LLMError, OpenAICompatibleBackend, endpoint_configured

if TYPE_CHECKING:
    from graphmem.settings import Settings

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "LLMError",
    "OpenAICompatibleBackend",
    "chat_from_settings",
    "memory_block",
    "parse_yes_no",
]

DEFAULT_MAX_TOKENS = 512
"""Answer length of a benchmark request unless the call asks for another."""


def chat_from_settings(settings: Settings) -> OpenAICompatibleBackend | None:
    """The configured endpoint as a free-text client, or None when base URL or model is
    missing. One client per run, closed by the caller."""
    if not endpoint_configured(settings):
        return None
    return OpenAICompatibleBackend.from_settings(
        settings, json_mode=False, max_tokens=DEFAULT_MAX_TOKENS
    )


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
