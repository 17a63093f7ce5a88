"""Dialogue → entity and preference subgraphs (LLM-driven or offline)."""

from .base import (
    ExtractedEntity,
    ExtractedMemory,
    ExtractedRelation,
    Extraction,
    Extractor,
    Turn,
)
from .errors import ExtractionError
from .factory import build_extractor
from .llm import ChatBackend, LLMExtractor, OpenAICompatibleBackend, TransformersBackend
from .offline import OfflineExtractor

__all__ = [
    "ChatBackend",
    "ExtractedEntity",
    "ExtractedMemory",
    "ExtractedRelation",
    "Extraction",
    "ExtractionError",
    "Extractor",
    "LLMExtractor",
    "OfflineExtractor",
    "OpenAICompatibleBackend",
    "TransformersBackend",
    "Turn",
    "build_extractor",
]
