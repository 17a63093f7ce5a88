"""The manifest saved beside each adapter, and the base model's weight fingerprint.

An adapter is only meaningful on the exact base weights it was trained on, and only for the cube
versions it was distilled from; the manifest records both so that the loader can refuse an
adapter for another base, and the scheduler can tell a stale adapter from a fresh one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from graphmem.cubes.parametric.settings import LoraSettings

FORMAT = "graphmem-lora-adapter"
FORMAT_VERSION = 1
MANIFEST_NAME = "graphmem_manifest.json"

#: Values sampled from each weight tensor for the fingerprint.
_SAMPLES_PER_TENSOR = 256


class CubeRef(BaseModel):
    id: str
    version: int


class DistilMetrics(BaseModel):
    train_loss_first: float
    train_loss_last: float = Field(description="mean training loss of the last epoch run")
    heldout_loss_first: float | None = Field(None, description="before any training step")
    heldout_loss_best: float | None = None
    steps: int
    epochs_run: float
    stopped_early: bool
    wall_s: float
    train_loop_s: float = Field(description="the training loop alone (with its evaluations)")
    train_examples: int
    heldout_examples: int
    train_tokens: int = Field(description="answer tokens in the training examples (one pass)")


class AdapterManifest(BaseModel):
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    adapter_id: str
    owner: str
    base_model_id: str
    base_fingerprint: str
    cubes: list[CubeRef]
    examples_sha256: str
    settings: LoraSettings
    metrics: DistilMetrics
    created: str
    versions: dict[str, str] = Field(default_factory=dict, description="torch/transformers/peft")

    def write(self, directory: Path) -> Path:
        path = directory / MANIFEST_NAME
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, directory: Path) -> AdapterManifest:
        return cls.model_validate(json.loads((directory / MANIFEST_NAME).read_text("utf-8")))


def _base_name(name: str) -> str:
    """A parameter's name in the plain model, whether or not peft has wrapped it."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".")


def weight_fingerprint(model: Any) -> str:
    """sha256 over every base weight's name, shape, dtype and a strided sample of its values.

    Why sampled and not every byte: hashing 15 GB of a 7B model takes longer than distilling
    an adapter. A sample of 256 values per tensor tells checkpoints, fine-tunes and dtypes
    apart; it would not notice a deliberate edit of a few unsampled weights, which is not the
    threat here (the base is the operator's own). LoRA weights are left out, so the fingerprint
    is the same before and after adapters are attached.
    """
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: _base_name(kv[0])):
            if "lora_" in name:
                continue
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // _SAMPLES_PER_TENSOR)
            sample = flat[::step][:_SAMPLES_PER_TENSOR].to("cpu", torch.float32)
            h.update(f"{_base_name(name)}|{tuple(p.shape)}|{p.dtype}".encode())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()


def adapter_bytes(directory: Path) -> int:
    """Size of the adapter's files on disk (weights, peft config, manifest)."""
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())


def peft_name(adapter_id: str) -> str:
    """The name an adapter has inside a PeftModel. peft uses adapter names as module keys, which
    may not contain dots, and cube ids may; a hash keeps names valid and one-to-one."""
    return "gm_" + hashlib.sha256(adapter_id.encode("utf-8")).hexdigest()[:20]
