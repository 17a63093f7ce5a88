"""Distil memory texts into a LoRA adapter on a given base model (peft).

The model and tokenizer are the caller's: loading them is the LLM layer's job, and a caller that
serves and distils on one GPU passes the same base to both. The base is left as it was found:
a plain model is wrapped for training and unwrapped afterwards; a PeftModel gets the new adapter
added and removed again, with its active adapter restored.

Loss is on the answer tokens only (the prompt is context, not something to memorise), so the
adapter learns to produce the memory when asked, not to reproduce the questions.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from graphmem.cubes.parametric.examples import ExampleSet, TrainingExample
from graphmem.cubes.parametric.manifest import (
    AdapterManifest,
    CubeRef,
    DistilMetrics,
    peft_name,
    weight_fingerprint,
)
from graphmem.cubes.parametric.settings import LoraSettings

IGNORE = -100

#: Turns a question into the model's prompt text (e.g. a chat template with the generation
#: prompt appended). The same function must be used at generation time.
PromptFormat = Callable[[str], str]


class Tokenizer(Protocol):
    """What distillation needs of a tokenizer; a transformers tokenizer satisfies it."""

    eos_token_id: Any
    pad_token_id: Any

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


def plain_prompt(question: str) -> str:
    """The default prompt format for models without a chat template."""
    return f"Question: {question}\nAnswer: "


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def encode_example(example: TrainingExample, tokenizer: Tokenizer, prompt_format: PromptFormat,
                   max_length: int) -> Encoded:
    """Prompt tokens masked out of the loss, answer tokens and a closing EOS in it. Statements
    (``chat=False``) are raw text after an EOS, the document separator most causal LMs know."""
    eos = tokenizer.eos_token_id
    if example.chat:
        prompt = tokenizer.encode(prompt_format(example.prompt), add_special_tokens=False)
    else:
        prompt = [eos] if eos is not None else []
    answer = tokenizer.encode(example.answer, add_special_tokens=False)
    if eos is not None:
        answer = [*answer, eos]
    ids = (prompt + answer)[:max_length]
    labels = ([IGNORE] * len(prompt) + answer)[:max_length]
    if not prompt:  # the first token has nothing before it to be predicted from
        labels[0] = IGNORE
    return Encoded(ids, labels)


def _pad_id(tokenizer: Tokenizer) -> int:
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    return 0


def _collate(batch: Sequence[Encoded], pad_id: int, device: Any) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device),
            "attention_mask": mask.to(device)}


def split_heldout(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of example indices into (train, held-out). The split is by example, not by
    cube, so held-out loss measures recall of a memory through a form it was not trained on."""
    import random

    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = min(n - 1, max(1, round(n * fraction))) if fraction > 0 and n >= 2 else 0
    return sorted(order[held:]), sorted(order[:held])


def heldout_loss(model: Any, examples: Sequence[Encoded], pad_id: int, batch_size: int,
                 device: Any) -> float:
    """Mean loss per answer token over ``examples`` (eval mode, no gradients)."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    with torch.no_grad():
        for b in range(0, len(examples), batch_size):
            batch = _collate(examples[b:b + batch_size], pad_id, device)
            logits = model(input_ids=batch["input_ids"],
                           attention_mask=batch["attention_mask"]).logits[:, :-1]
            target = batch["labels"][:, 1:]
            total += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                     target.reshape(-1), ignore_index=IGNORE, reduction="sum")
            count += int((target != IGNORE).sum())
    if was_training:
        model.train()
    return float(total) / max(1, count)


@dataclass(frozen=True)
class DistilResult:
    path: Path
    manifest: AdapterManifest


def distil(model: Any, tokenizer: Tokenizer, examples: ExampleSet, *, owner: str,
           adapter_id: str, out_dir: Path, base_model_id: str,
           settings: LoraSettings | None = None, prompt_format: PromptFormat = plain_prompt,
           base_fingerprint: str | None = None,
           log: Callable[[str], None] | None = None) -> DistilResult:
    """Train a LoRA adapter on ``examples`` and save it (peft format + manifest) in ``out_dir``.

    ``base_fingerprint`` may be passed when the caller already knows it (it is the same for
    every adapter of a base); otherwise it is computed here. ``out_dir`` must not exist: an
    adapter directory is written once, staged beside it and renamed into place, so a crash
    never leaves a half-written adapter where a loader would find it.
    """
    import peft
    import torch
    import transformers
    from peft import LoraConfig, PeftModel, get_peft_model

    s = settings or LoraSettings()
    if out_dir.exists():
        raise FileExistsError(f"adapter directory {out_dir} already exists")
    t0 = time.perf_counter()
    fingerprint = base_fingerprint or weight_fingerprint(model)
    encoded = [encode_example(e, tokenizer, prompt_format, s.max_length)
               for e in examples.examples]
    train_idx, held_idx = split_heldout(len(encoded), s.heldout_fraction, s.seed)
    train = [encoded[i] for i in train_idx]
    held = [encoded[i] for i in held_idx]
    pad_id = _pad_id(tokenizer)

    name = peft_name(adapter_id)
    config = LoraConfig(r=s.rank, lora_alpha=s.alpha, lora_dropout=s.dropout,
                        target_modules=list(s.target_modules), bias="none",
                        task_type="CAUSAL_LM")
    torch.manual_seed(s.seed)  # LoRA A matrices are initialised from the global RNG
    wrapped_here = not isinstance(model, PeftModel)
    previous = None if wrapped_here else model.active_adapter
    if wrapped_here:
        peft_model = get_peft_model(model, config, adapter_name=name)
    else:
        peft_model = model
        peft_model.add_adapter(name, config)
    try:
        peft_model.set_adapter(name)
        params = [p for n, p in peft_model.named_parameters() if f".{name}." in n]
        for p in params:
            p.requires_grad_(True)
        device = params[0].device
        metrics = _train(peft_model, params, train, held, pad_id, device, s, log)

        staging = out_dir.with_name(out_dir.name + ".staging")
        if staging.exists():
            shutil.rmtree(staging)
        peft_model.save_pretrained(str(staging), selected_adapters=[name])
        saved = staging / name  # peft saves a non-default adapter in a sub-folder
        metrics["wall_s"] = time.perf_counter() - t0
        manifest = AdapterManifest(
            adapter_id=adapter_id, owner=owner, base_model_id=base_model_id,
            base_fingerprint=fingerprint,
            cubes=[CubeRef(id=c, version=v) for c, v in examples.cubes],
            examples_sha256=examples.sha256, settings=s,
            metrics=DistilMetrics(**metrics, train_examples=len(train),
                                  heldout_examples=len(held),
                                  train_tokens=sum(e.answer_tokens for e in train)),
            created=datetime.now(UTC).isoformat(),
            versions={"torch": torch.__version__, "transformers": transformers.__version__,
                      "peft": peft.__version__})
        manifest.write(saved)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        saved.rename(out_dir)
        shutil.rmtree(staging)
    finally:
        if wrapped_here:
            peft_model.unload()  # removes the LoRA layers: the caller's model is plain again
        else:
            peft_model.delete_adapter(name)
            if previous and previous in peft_model.peft_config:
                peft_model.set_adapter(previous, inference_mode=True)
    return DistilResult(out_dir, manifest)


def _train(model: Any, params: list[Any], train: list[Encoded], held: list[Encoded],
           pad_id: int, device: Any, s: LoraSettings,
           log: Callable[[str], None] | None) -> dict[str, Any]:
    """AdamW over the adapter's parameters; held-out loss at each evaluation point; stop after
    ``patience`` evaluations without improvement; the best held-out state is restored."""
    import torch

    opt = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / (s.warmup_steps + 1)))
    rng = torch.Generator().manual_seed(s.seed)
    per_epoch = math.ceil(len(train) / s.batch_size)
    epochs = max(s.epochs, math.ceil(s.min_steps / per_epoch))
    if s.max_steps is not None:
        epochs = min(epochs, math.ceil(s.max_steps / per_epoch))
    eval_every = s.eval_every or per_epoch
    model.train()
    held_first = heldout_loss(model, held, pad_id, s.batch_size, device) if held else None
    t_loop = time.perf_counter()
    # The best is taken over evaluations after training steps only: restoring the untrained
    # state would hand back an adapter that knows nothing.
    best: float | None = None
    best_state: list[Any] | None = None
    bad = 0
    step, first, stopped = 0, float("nan"), False
    epoch_losses: list[float] = []
    done = False
    for _epoch in range(epochs):
        order = torch.randperm(len(train), generator=rng).tolist()
        loss_sum = torch.zeros((), device=device)
        n_batches = 0
        for b in range(0, len(order), s.batch_size):
            batch = _collate([train[i] for i in order[b:b + s.batch_size]], pad_id, device)
            loss = model(**batch).loss
            loss.backward()
            if s.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, s.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if step == 0:
                first = float(loss.detach())
            loss_sum += loss.detach()
            n_batches += 1
            step += 1
            if held and step % eval_every == 0:
                current = heldout_loss(model, held, pad_id, s.batch_size, device)
                if log:
                    log(f"step {step}: held-out loss {current:.4f}")
                if best is None or current < best - s.min_delta:
                    best, bad = current, 0
                    best_state = [p.detach().clone() for p in params]
                else:
                    bad += 1
                    if s.patience is not None and bad >= s.patience:
                        stopped = done = True
            if s.max_steps is not None and step >= s.max_steps:
                done = True
            if done:
                break
        epoch_losses.append(float(loss_sum) / max(1, n_batches))
        if done:
            break
    loop_s = time.perf_counter() - t_loop  # epoch_losses' float() synchronised the device
    if best_state is not None:
        with torch.no_grad():
            for p, saved in zip(params, best_state, strict=True):
                p.copy_(saved)
    model.eval()
    return {"train_loss_first": first, "train_loss_last": epoch_losses[-1],
            "heldout_loss_first": held_first, "heldout_loss_best": best, "steps": step,
            "epochs_run": step / per_epoch, "stopped_early": stopped, "train_loop_s": loop_s}
