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
from .llm import LLMExtractor
from .offline import OfflineExtractor

__all__ = [
    "ExtractedEntity",
    "ExtractedMemory",
    "ExtractedRelation",
    "Extraction",
    "ExtractionError",
    "Extractor",
    "LLMExtractor",
    "OfflineExtractor",
    "Turn",
    "build_extractor",
]
