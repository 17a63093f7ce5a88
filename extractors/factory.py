"""Pick the extractor the settings ask for, falling back to the offline one.

"auto" uses an LLM only when one is actually configured (an endpoint and a model name, or a
local model directory), so a fresh install works offline with no setup; "llm" insists, and
fails loudly at construction if nothing is configured rather than silently degrading.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from graphmem.llm import llm_configured

from .base import Extractor
from .llm import LLMExtractor
from .offline import OfflineExtractor

if TYPE_CHECKING:
    from graphmem.settings import Settings

log = logging.getLogger(__name__)


def build_extractor(settings: Settings) -> Extractor:
    """The extractor for these settings; logs which one was chosen and why."""
    if settings.extractor == "llm" or (settings.extractor == "auto" and llm_configured(settings)):
        extractor = LLMExtractor(settings)
        log.info("extractor: llm (model=%s, prompt=%s, setting=%s)", extractor.backend.model,
                 extractor.prompt.version, settings.extractor)
        return extractor
    log.info("extractor: offline (spaCy %s, setting=%s%s)", settings.spacy_model,
             settings.extractor, "" if settings.extractor == "offline" else ", no LLM configured")
    return OfflineExtractor(settings)
