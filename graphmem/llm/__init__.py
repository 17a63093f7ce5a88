"""The LLM layer: one chat interface, its backends, and which one is configured.

Extraction (graphmem.extractors), chat (GraphMem.chat) and the benchmarks (graphmem.eval)
all reach models through here; none of them holds an HTTP client or a model loader of its own.
"""

from graphmem.errors import LLMError
from graphmem.llm.base import ChatBackend, ChatResult, ChatStream, Message, estimate_tokens
from graphmem.llm.factory import (
    backend_from_settings,
    chat_backend,
    endpoint_configured,
    llm_configured,
)
from graphmem.llm.local import SMOLLM2, TransformersBackend
from graphmem.llm.openai_compat import OpenAICompatibleBackend

__all__ = [
    "SMOLLM2",
    "ChatBackend",
    "ChatResult",
    "ChatStream",
    "LLMError",
    "Message",
    "OpenAICompatibleBackend",
    "TransformersBackend",
    "backend_from_settings",
    "chat_backend",
    "endpoint_configured",
    "estimate_tokens",
    "llm_configured",
]
