"""What every chat model in GraphMem offers: one deterministic completion with token counts.

Extraction asks for JSON, chat and the benchmarks for free text; both go through this one
interface, so which model answers is decided once (graphmem.llm.factory).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]


@dataclass(frozen=True)
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    ttft_ms: float | None = None  # time to the first generated token, where it was measured


class ChatBackend(Protocol):
    """One chat completion, deterministic (temperature 0 / greedy)."""

    model: str

    def complete(self, messages: Sequence[Message]) -> ChatResult: ...


def estimate_tokens(text: str) -> int:
    """Word-and-punctuation count scaled to typical BPE density: used only when a server does
    not report usage, so the token budget is approximate but never zero."""
    pieces = len(re.findall(r"\w+|[^\w\s]", text))
    return max(1, round(pieces * 1.3))
