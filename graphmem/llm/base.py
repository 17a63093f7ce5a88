"""What every chat model in GraphMem offers: one deterministic completion with token counts.

Extraction asks for JSON, chat and the benchmarks for free text; both go through this one
interface, so which model answers is decided once (graphmem.llm.factory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from graphmem.text import estimate_tokens

__all__ = ["ChatBackend", "ChatResult", "Message", "estimate_tokens"]

Message = dict[str, str]


@dataclass(frozen=True)
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    ttft_ms: float | None = None  # time to the first generated token, where it was measured


class ChatBackend(Protocol):
    """One chat completion, deterministic (temperature 0 / greedy). `schema` asks for JSON
    matching a pydantic model where the backend can constrain its output (structured output
    of an OpenAI-compatible server); others rely on the prompt."""

    model: str

    def complete(self, messages: Sequence[Message], *,
                 schema: type[BaseModel] | None = None) -> ChatResult: ...
