"""Typed settings of a LoRA distillation.

One model for every knob so that a manifest can record exactly what produced an adapter (the
whole settings object is dumped into it) and a re-distillation with the same settings, examples
and seed reproduces it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: The linear layers of Llama/Qwen2/Mistral-style decoders. Attention and MLP both: facts are
#: recalled largely through the MLP, so attention-only adapters memorise markedly worse.
DEFAULT_TARGET_MODULES: tuple[str, ...] = (
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
)


class LoraSettings(BaseModel):
    """How an adapter is trained. Defaults are the ones the GPU benchmark reports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(default=16, ge=1)
    #: LoRA scale is alpha / rank.
    alpha: int = Field(default=32, ge=1)
    #: 0 because the goal is memorising the examples, not generalising past them.
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    learning_rate: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    #: Linear warm-up over this many steps, then a constant rate.
    warmup_steps: int = Field(default=5, ge=0)
    #: Passes over the training examples at most (unless min_steps asks for more).
    epochs: int = Field(default=8, ge=1)
    #: Optimizer steps at least: a few memories fill few batches, and memorising takes a number
    #: of updates, not only of passes; more epochs are run until this many steps are reached.
    min_steps: int = Field(default=40, ge=0)
    #: Optimizer steps at most (None: the epochs alone bound training).
    max_steps: int | None = Field(default=None, ge=1)
    #: 64 rather than 16: on the H200 machine a step's time is mostly kernel-launch overhead
    #: (gVisor), so larger batches cut distillation time almost in proportion to the steps.
    batch_size: int = Field(default=64, ge=1)
    #: Examples longer than this (in tokens) are truncated.
    max_length: int = Field(default=256, ge=8)
    #: Share of the examples held out for early stopping (0: no held-out set, no early stop).
    heldout_fraction: float = Field(default=0.1, ge=0, lt=1)
    #: Steps between held-out evaluations (0: once per epoch).
    eval_every: int = Field(default=0, ge=0)
    #: Held-out evaluations without improvement before stopping (None: never stop early).
    patience: int | None = Field(default=2, ge=1)
    #: Smallest held-out loss drop that counts as an improvement.
    min_delta: float = Field(default=1e-3, ge=0)
    grad_clip: float | None = Field(default=1.0, gt=0)
    seed: int = 0
