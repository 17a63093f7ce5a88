"""Parametric memory on a GPU: LoRA distillation time and memory, adapter size, load and swap
time, and generation throughput with many adapters in one batch.

Models are Qwen2.5-0.5B- and 7B-shaped with random weights built on the GPU in bf16 (time and
memory do not depend on the weights' values). There is no tokenizer on the device machine, so
text is turned into ids by hashing words (``HashTokenizer``: about 1.4 ids a word, like a BPE
on English), and prompts carry a Qwen-style chat template, so the sequences have realistic
lengths. Distillation runs with the default ``LoraSettings`` unless flags say otherwise.

Run (on the GPU machine):
    python benchmarks/lora_gpu.py --out DIR [--archs 0.5b,7b] [--cubes 10,100,1000]
Locally, as a check of the script itself:  --archs tiny --cubes 5 --gen-tokens 4 --device cpu
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the device copy's own graphmem shim
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repository root

import torch

from graphmem.cubes.parametric import LoraSettings, MemoryText, build_examples
from graphmem.cubes.parametric.distil import distil
from graphmem.cubes.parametric.manifest import (
    MANIFEST_NAME,
    AdapterManifest,
    adapter_bytes,
    weight_fingerprint,
)
from graphmem.cubes.parametric.serving import AdapterCache, GenerationRequest

ARCHS: dict[str, dict[str, Any]] = {
    # Qwen2.5-0.5B-Instruct's shape
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, intermediate_size=4864, vocab_size=152064,
                 tie_word_embeddings=True),
    # Qwen2.5-7B-Instruct's shape
    "7b": dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, intermediate_size=18944, vocab_size=152064,
               tie_word_embeddings=False),
    # for checking the script on a CPU
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=128, vocab_size=152064,
                 tie_word_embeddings=True),
}

_PIECE = re.compile(r"<\|[a-z_]+\|>|\w+|[^\w\s]|\n")


class HashTokenizer:
    """Words to ids by hash; words over five letters become two ids. Specials as in Qwen2.5."""

    eos_token_id = 151645  # <|im_end|>
    pad_token_id = 151643  # <|endoftext|>
    _special: ClassVar[dict[str, int]] = {
        "<|im_start|>": 151644, "<|im_end|>": 151645, "<|endoftext|>": 151643}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids: list[int] = []
        for piece in _PIECE.findall(text):
            if piece in self._special:
                ids.append(self._special[piece])
                continue
            parts = [piece] if len(piece) <= 5 else [piece[:len(piece) // 2],
                                                     piece[len(piece) // 2:]]
            for p in parts:
                ids.append(int(hashlib.md5(p.encode()).hexdigest()[:8], 16) % 151000)
        return ids


def chat_prompt(question: str) -> str:
    return ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            f"assistant.<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


_FIRST = ["Mira", "Tomas", "Ilse", "Jonah", "Priya", "Kenji", "Sofia", "Amara", "Lukas", "Nadia"]
_LAST = ["Vell", "Brek", "Ostrander", "Quillon", "Marsh", "Tanaka", "Okafor", "Lindqvist"]
_ATTR = ["favourite colour", "hometown", "employer", "cat's name", "favourite dish",
         "first car", "dentist", "running club", "allergy", "piano teacher", "wifi password",
         "favourite author"]
_VAL = ["teal", "Dunmore on the coast", "Harlow Glassworks", "Pepper", "plum dumplings",
        "a red 1998 Volvo estate", "Dr. Anneke Smit", "the Riverside Striders", "penicillin",
        "Mrs. Okonkwo from Elm Street", "marmalade-42", "Ursula K. Le Guin"]


def make_facts(n: int) -> list[MemoryText]:
    """n distinct facts of the 'X's attribute is value.' shape the templates know."""
    facts = []
    for i in range(n):
        person = f"{_FIRST[i % 10]} {_LAST[(i // 10) % 8]}"
        attr = _ATTR[(i // 80) % 12] + ("" if i < 960 else f" number {i // 960}")
        facts.append(MemoryText(f"cube-{i}", 1, f"{person}'s {attr} is {_VAL[i % 12]}."))
    return facts


def build_model(arch: str, device: str) -> Any:
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**ARCHS[arch], max_position_embeddings=4096,
                         eos_token_id=HashTokenizer.eos_token_id,
                         pad_token_id=HashTokenizer.pad_token_id)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def bench_distil(model: Any, arch: str, n: int, fp: str, root: Path, settings: LoraSettings,
                 extrapolate_above: int | None,
                 extrapolate_steps: int = 8) -> tuple[dict[str, Any], Path]:
    examples = build_examples(make_facts(n))
    s = settings
    extrapolated = extrapolate_above is not None and n > extrapolate_above
    if extrapolated:  # run a few steps only; the full time is scaled from the loop's rate
        n_held = max(1, round(len(examples.examples) * s.heldout_fraction))
        per_epoch = math.ceil((len(examples.examples) - n_held) / s.batch_size)
        full_steps = max(s.epochs, math.ceil(s.min_steps / per_epoch)) * per_epoch
        s = settings.model_copy(update={"max_steps": extrapolate_steps})
    reset_peak()
    base_gib = torch.cuda.memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    result = distil(model, HashTokenizer(), examples, owner="user-0",
                    adapter_id=f"{arch}-{n}", out_dir=root / f"{arch}-{n}",
                    base_model_id=f"random-qwen2.5-{arch}-shape", settings=s,
                    prompt_format=chat_prompt, base_fingerprint=fp)
    m = result.manifest.metrics
    row: dict[str, Any] = {
        "arch": arch, "cubes": n, "examples": len(examples.examples),
        "train_examples": m.train_examples, "train_answer_tokens": m.train_tokens,
        "steps": m.steps, "epochs_run": round(m.epochs_run, 2),
        "stopped_early": m.stopped_early, "wall_s": round(m.wall_s, 2),
        "train_loop_s": round(m.train_loop_s, 2),
        "s_per_step": round(m.train_loop_s / max(1, m.steps), 4),
        "peak_gib": round(peak_gib(), 2), "base_weights_gib": round(base_gib, 2),
        "train_loss_first": round(m.train_loss_first, 3),
        "train_loss_last": round(m.train_loss_last, 3),
        "heldout_loss_first": m.heldout_loss_first, "heldout_loss_best": m.heldout_loss_best,
        "adapter_mib": round(adapter_bytes(result.path) / 2**20, 1),
        "extrapolated": extrapolated,
    }
    if extrapolated:
        row["full_steps"] = full_steps
        row["wall_s_full_estimate"] = round(
            m.wall_s - m.train_loop_s + m.train_loop_s * full_steps / max(1, m.steps), 1)
    print(json.dumps(row), flush=True)
    return row, result.path


def clone_adapter(src: Path, dst: Path, adapter_id: str, owner: str) -> None:
    """Another adapter with the same weights (hard-linked) under its own id and owner: the
    serving costs measured here do not depend on the weights' values."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.name != MANIFEST_NAME and f.is_file():
            os.link(f, dst / f.name)
    manifest = AdapterManifest.read(src).model_copy(update={"adapter_id": adapter_id,
                                                              "owner": owner})
    manifest.write(dst)


def timed(fn: Any) -> float:
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def bench_serving(model: Any, arch: str, fp: str, adapter: Path, root: Path, batch: int,
                  prompt_len: int, new_tokens: int) -> dict[str, Any]:
    n_clones = batch + 8
    for i in range(n_clones):
        clone_adapter(adapter, root / f"clone-{i}", f"{arch}-clone-{i}", f"user-{i}")
    cache = AdapterCache(model, budget=batch, base_fingerprint=fp)
    g = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, 151000, (batch, prompt_len), generator=g).tolist()
    out: dict[str, Any] = {"arch": arch, "batch": batch, "prompt_tokens": prompt_len,
                           "new_tokens": new_tokens}

    def gen(rows: list[GenerationRequest], tokens: int = new_tokens) -> None:
        cache.generate(rows, max_new_tokens=tokens, min_new_tokens=tokens,
                       pad_token_id=HashTokenizer.pad_token_id)

    def rows_for(k: int | None) -> list[GenerationRequest]:
        if k is None:
            return [GenerationRequest(f"user-{i}", p) for i, p in enumerate(prompts)]
        return [GenerationRequest(f"user-{i % k}", p, f"{arch}-clone-{i % k}")
                for i, p in enumerate(prompts)]

    throughput: dict[str, float] = {}
    # the base model alone, before any adapter is attached
    gen(rows_for(None), 2)  # warm-up
    throughput["base"] = batch * new_tokens / timed(lambda: gen(rows_for(None)))

    loads = [timed(lambda i=i: cache.load(f"user-{i}", f"{arch}-clone-{i}",
                                          root / f"clone-{i}")) for i in range(batch)]
    out["load_ms_first"] = round(loads[0] * 1e3, 1)  # wraps the base in a PeftModel
    out["load_ms_median"] = round(statistics.median(loads[1:] or loads) * 1e3, 1)
    swaps = []
    for _ in range(3):
        for i in range(batch):
            swaps.append(timed(lambda i=i: cache.activate(f"user-{i}", f"{arch}-clone-{i}")))
    out["swap_ms_median"] = round(statistics.median(swaps) * 1e3, 3)
    out["swap_ms_max"] = round(max(swaps) * 1e3, 3)

    for k in (1, 8, 32):
        if k > batch:
            continue
        gen(rows_for(k), 2)  # warm-up
        throughput[f"{k}_adapters"] = batch * new_tokens / timed(lambda k=k: gen(rows_for(k)))
    out["tokens_per_s"] = {k: round(v, 1) for k, v in throughput.items()}

    # cold swap: a load into a full cache, which evicts the least recently used adapter
    cold = [timed(lambda i=i: cache.load(f"user-{i}", f"{arch}-clone-{i}", root / f"clone-{i}"))
            for i in range(batch, n_clones)]
    out["cold_swap_ms_median"] = round(statistics.median(cold) * 1e3, 1)
    out["evictions"] = cache.evictions
    cache.clear()
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--archs", default="0.5b,7b")
    ap.add_argument("--cubes", default="10,100,1000")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--extrapolate-above", type=int, default=None,
                    help="for more cubes than this, run a few steps and scale the time")
    ap.add_argument("--extrapolate-steps", type=int, default=8)
    ap.add_argument("--probe", default="",
                    help="arch:cubes:steps, a short timing probe (e.g. 7b:100:12)")
    ap.add_argument("--settings", default="{}",
                    help="LoraSettings fields to override, as JSON (default: none)")
    ap.add_argument("--probe-only", action="store_true",
                    help="for the probe's arch, run the probe alone")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = LoraSettings(**json.loads(args.settings))
    import peft
    import transformers

    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__},
        "settings": settings.model_dump(), "argv": sys.argv[1:],
        "distil": [], "serving": [], "probe": [], "build": [],
    }
    root = Path(tempfile.mkdtemp(prefix="lora-bench-"))
    t_all = time.perf_counter()
    probe = args.probe.split(":") if args.probe else None

    def save() -> None:
        (args.out / "lora_gpu.json").write_text(json.dumps(result, indent=1))

    try:
        for arch in args.archs.split(","):
            t = time.perf_counter()
            model = build_model(arch, args.device)
            sync()
            build_s = time.perf_counter() - t
            t = time.perf_counter()
            fp = weight_fingerprint(model)
            fp_s = time.perf_counter() - t
            n_params = sum(p.numel() for p in model.parameters())
            result["build"].append({"arch": arch, "build_s": round(build_s, 1),
                                    "fingerprint_s": round(fp_s, 2), "params": n_params})
            print(f"{arch}: {n_params / 1e9:.2f}B params built in {build_s:.1f}s, "
                  f"fingerprint {fp_s:.2f}s", flush=True)
            if probe and probe[0] == arch:
                s = settings.model_copy(update={"max_steps": int(probe[2])})
                row, _ = bench_distil(model, arch, int(probe[1]), fp, root / "probe", s, None)
                result["probe"].append(row)
                save()
            last = None
            sizes = [] if probe and probe[0] == arch and args.probe_only else args.cubes.split(",")
            for n in [int(c) for c in sizes if c]:
                row, path = bench_distil(model, arch, n, fp, root, settings,
                                         args.extrapolate_above, args.extrapolate_steps)
                result["distil"].append(row)
                last = last or path
                save()
            if last is not None and args.gen_tokens > 0:
                result["serving"].append(bench_serving(
                    model, arch, fp, last, root / f"serve-{arch}", args.batch,
                    args.prompt_tokens, args.gen_tokens))
                save()
            del model
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    finally:
        result["total_s"] = round(time.perf_counter() - t_all, 1)
        save()
        shutil.rmtree(root, ignore_errors=True)
    print_table(result)


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['device']}  {result['versions']}")
    print("\n| arch | cubes | examples | steps | distil s | s/step | peak GiB | adapter MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in result["probe"] + result["distil"]:
        wall = (f"{r['wall_s']} ({r['steps']} steps run; est. {r['wall_s_full_estimate']} "
                f"for all {r['full_steps']})" if r["extrapolated"] else f"{r['wall_s']}")
        print(f"| {r['arch']} | {r['cubes']} | {r['examples']} | {r['steps']} | {wall} | "
              f"{r['s_per_step']} | {r['peak_gib']} | {r['adapter_mib']} |")
    print("\n| arch | load ms (first / median) | swap ms (median / max) | cold swap ms | "
          "tok/s base | 1 adapter | 8 adapters | 32 adapters |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in result["serving"]:
        t = s["tokens_per_s"]
        print(f"| {s['arch']} | {s['load_ms_first']} / {s['load_ms_median']} | "
              f"{s['swap_ms_median']} / {s['swap_ms_max']} | {s['cold_swap_ms_median']} | "
              f"{t.get('base')} | {t.get('1_adapters')} | {t.get('8_adapters')} | "
              f"{t.get('32_adapters')} |")


if __name__ == "__main__":
    main()
