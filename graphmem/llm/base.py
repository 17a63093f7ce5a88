"""What every chat model in GraphMem offers: one deterministic completion with token counts,
and the same completion as a stream of text pieces.

Extraction asks for JSON, chat and the benchmarks for free text; both go through this one
interface, so which model answers is decided once (graphmem.llm.factory).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from graphmem.text import estimate_tokens

__all__ = ["ChatBackend", "ChatResult", "ChatStream", "Message", "estimate_tokens"]

Message = dict[str, str]


@dataclass(frozen=True)
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    ttft_ms: float | None = None  # time to the first generated token, where it was measured


ChatStream = Generator[str | ChatResult, None, None]
"""Text pieces in the order they were generated, then one ChatResult for the whole answer
(its text is the pieces joined)."""


class ChatBackend(Protocol):
    """One chat completion, deterministic (temperature 0 / greedy). `schema` asks for JSON
    matching a pydantic model where the backend can constrain its output (structured output
    of an OpenAI-compatible server); others rely on the prompt.

    `stream` is optional: a backend that cannot stream inherits this one, which yields the
    whole completion as one piece (so callers never need to ask which kind they hold)."""

    model: str

    def complete(self, messages: Sequence[Message], *,
                 schema: type[BaseModel] | None = None) -> ChatResult: ...

    def stream(self, messages: Sequence[Message]) -> ChatStream:
        result = self.complete(messages)
        if result.text:
            yield result.text
        yield result
