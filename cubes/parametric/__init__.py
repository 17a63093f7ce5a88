"""Parametric memory: stable, hot memories distilled into per-owner LoRA adapters (peft).

- ``examples``: training examples from memory texts by fixed templates, with their hash;
- ``settings``: the typed LoRA/training settings;
- ``distil``: training an adapter on a caller-supplied model and tokenizer, saved in peft's
  format with a manifest (``manifest``);
- ``serving``: an LRU of loaded adapters on one base model that serves each adapter to its owner
  only, and batched generation with a different adapter per row.

``examples``, ``settings`` and ``manifest`` import without torch; ``distil`` and ``serving``
need torch, transformers and peft (the ``parametric`` extra).
"""

from graphmem.cubes.parametric.examples import (
    ExampleSet,
    MemoryText,
    TrainingExample,
    build_examples,
)
from graphmem.cubes.parametric.manifest import AdapterManifest
from graphmem.cubes.parametric.settings import LoraSettings

__all__ = [
    "AdapterManifest",
    "ExampleSet",
    "LoraSettings",
    "MemoryText",
    "TrainingExample",
    "build_examples",
]
