"""Chat with memory (MemOS's MOS chat): retrieve for the last user turn, put the memories into
the first system message, generate, and say which memories the answer used.

The memory block is rendered deterministically from the ordered memory set, and it sits at
the very start of the prompt (inside the first system message, where chat templates place
it), so the same memories always give the same prompt prefix: an OpenAI-compatible server
with prefix caching (vLLM, SGLang) then reuses its KV cache for it, and a local activation
cache can be keyed by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from graphmem.llm import Message
from graphmem.models import SearchHit

SYSTEM_PROMPT = ("You are a helpful assistant. Answer from what the user told you in earlier "
                 "conversations when it is relevant; do not make up facts about the user.")


class UsedMemory(BaseModel):
    """A memory that was put into the prompt, with where it came from."""

    id: str
    version: int
    kind: str
    text: str
    episode_ids: list[str] = Field(default_factory=list)


class ChatTimings(BaseModel):
    retrieval_ms: float
    generation_ms: float
    ttft_ms: float | None = None
    tokens_per_s: float | None = None


class ChatAnswer(BaseModel):
    answer: str
    model: str
    memories: list[UsedMemory]
    timings: ChatTimings
    tokens_in: int
    tokens_out: int
    remembered: int = Field(default=0, description="new cubes stored from this exchange")
    kv_cache: Literal["hit", "miss", "off"] = Field(
        default="off", description="whether a KV cache of the memory prefix was used")
    adapter: str | None = Field(default=None,
                                description="the asker's own LoRA adapter applied, if any")


def memory_block(texts: Sequence[str], user: str | None = None) -> str:
    """The memories as quotes of the user, best first. Attributing each one ("maya said: ...")
    keeps a small model from taking the "I" of a memory for itself (SmolLM2-135M answered
    "I'm not sure" to a numbered list, and from the quoted form named a city)."""
    who = user or "the user"
    if not texts:
        return f"What {who} said earlier: (nothing relevant)"
    lines = [f'- {who} said: "{" ".join(t.split())}"' for t in texts]
    return f"What {who} (the user) said in earlier conversations:\n" + "\n".join(lines)


def system_message(texts: Sequence[str], user: str | None = None,
                   instructions: str = SYSTEM_PROMPT) -> str:
    """The first system message for these memories: what a KV cache of them prefills."""
    return f"{instructions.rstrip()}\n\n{memory_block(texts, user)}"


def with_memories(messages: Sequence[Message], hits: Sequence[SearchHit],
                  user: str | None = None) -> list[Message]:
    """The conversation with the memory block in its first system message (one is added in
    front when the caller gave none)."""
    texts = [h.cube.text for h in hits]
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        out[0]["content"] = system_message(texts, user, out[0]["content"])
    else:
        out.insert(0, {"role": "system", "content": system_message(texts, user)})
    return out


def used(hits: Sequence[SearchHit]) -> list[UsedMemory]:
    return [UsedMemory(id=h.cube.id, version=h.cube.meta.version, kind=h.cube.meta.kind.value,
                       text=h.cube.text, episode_ids=list(h.cube.meta.provenance.episode_ids))
            for h in hits]
