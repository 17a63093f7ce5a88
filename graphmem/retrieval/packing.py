"""Token-budget packing: ranked memories grouped into chunks of about `chunk_tokens` tokens,
at most `top_k_chunks` of them (MemOS: 3 chunks of ~512 tokens worked best)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphmem.text import estimate_tokens as count_tokens
from graphmem.text import truncate_tokens as _truncate


@dataclass
class Chunk:
    text: str
    cube_ids: list[str] = field(default_factory=list)
    tokens: int = 0


def pack(items: list[tuple[str, str]], top_k_chunks: int, chunk_tokens: int) -> list[Chunk]:
    """`items` are (cube id, text) in rank order. A memory longer than a chunk is truncated to
    fit one chunk rather than dropped, so the best hit always makes it in."""
    chunks: list[Chunk] = []
    current = Chunk("")
    for cid, text in items:
        n = count_tokens(text)
        if n > chunk_tokens:
            text = _truncate(text, chunk_tokens)
            n = count_tokens(text)
        if current.tokens + n > chunk_tokens and current.cube_ids:
            chunks.append(current)
            if len(chunks) == top_k_chunks:
                return chunks
            current = Chunk("")
        current.text = f"{current.text}\n- {text}" if current.text else f"- {text}"
        current.cube_ids.append(cid)
        current.tokens += n
    if current.cube_ids and len(chunks) < top_k_chunks:
        chunks.append(current)
    return chunks
