"""Activation memory (KV caches) on a tiny random-weight Qwen2 built in-process: no downloads.

Exactness is against full prefill of the same token ids, in float32, to 1e-4 absolute on the
next-token logits (observed differences are ~1e-7: only the summation order changes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from graphmem.cubes.activation import (  # noqa: E402
    CacheMismatch,
    CubeRef,
    Hardware,
    KVCache,
    ModelShape,
    Tier,
    TieredKVStore,
    build_prefix_cache,
    build_prefix_cache_from_ids,
    estimate_reuse,
    extend_ids,
    generate_with_cache,
    load_cache,
    model_fingerprint,
    next_token_logits,
    render_prefix,
    reuse_pays,
    save_cache,
    static,
)

ATOL = 1e-4
VOCAB = 97
PREFIX = 48
QUERY = 8


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(1234)
    config = transformers.Qwen2Config(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        initializer_range=0.2, attn_implementation="sdpa")
    return transformers.Qwen2ForCausalLM(config).eval()


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randint(0, VOCAB, (1, PREFIX + QUERY), generator=g)


@pytest.fixture(scope="module")
def kv(model: torch.nn.Module, ids: torch.Tensor) -> KVCache:
    return build_prefix_cache_from_ids(model, ids[0, :PREFIX], model_id="tiny-qwen2",
                                       cubes=[CubeRef("c1", 1), CubeRef("c2", 3)], scope="u1")


def _full_logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits[:, -1, :]


def _snapshot(kv: KVCache) -> list[torch.Tensor]:
    return [t.clone() for t in (*kv.keys, *kv.values)]


def test_manifest_records_what_the_cache_depends_on(kv: KVCache, model: torch.nn.Module) -> None:
    m = kv.manifest
    assert (m.model_id, m.token_count, m.num_layers, m.dtype) == (
        "tiny-qwen2", PREFIX, 2, "torch.float32")
    assert m.model_fingerprint == model_fingerprint(model)
    assert m.cubes == (CubeRef("c1", 1), CubeRef("c2", 3)) and m.scope == "u1"
    assert m.adapter_id is None
    assert kv.keys[0].shape == (1, 2, PREFIX, 16)
    assert kv.nbytes == 2 * 2 * 2 * PREFIX * 16 * 4


def test_cached_logits_equal_full_prefill(model: torch.nn.Module, ids: torch.Tensor,
                                          kv: KVCache) -> None:
    full = _full_logits(model, ids)
    cached = next_token_logits(model, kv, ids)
    assert cached.shape == full.shape
    assert torch.allclose(cached, full, atol=ATOL, rtol=0), (cached - full).abs().max()
    # and the check can fail: a cache of another prefix gives other logits
    other = build_prefix_cache_from_ids(model, (ids[0, :PREFIX] + 1) % VOCAB, model_id="x")
    shifted = torch.cat([other.prefix_ids.unsqueeze(0), ids[:, PREFIX:]], dim=1)
    assert not torch.allclose(next_token_logits(model, other, shifted), full, atol=ATOL)


def test_twenty_greedy_tokens_identical(model: torch.nn.Module, ids: torch.Tensor,
                                        kv: KVCache) -> None:
    with torch.no_grad():
        reference = model.generate(ids, max_new_tokens=20, do_sample=False, min_new_tokens=20,
                                   pad_token_id=0)[:, ids.shape[1]:]
    ours = generate_with_cache(model, kv, ids, max_new_tokens=20)
    assert ours.shape == (1, 20)
    assert torch.equal(ours, reference), (ours, reference)
    assert len(set(reference[0].tolist())) > 1  # not a degenerate constant sequence


def test_stored_cache_is_not_mutated_by_use(model: torch.nn.Module, ids: torch.Tensor,
                                            kv: KVCache) -> None:
    before = _snapshot(kv)
    pointers = [t.data_ptr() for t in (*kv.keys, *kv.values)]
    next_token_logits(model, kv, ids)
    generate_with_cache(model, kv, ids, max_new_tokens=5)
    runner = static.StaticPrefixRunner(model, PREFIX, QUERY)
    runner.load(kv)
    runner.step(ids[:, PREFIX:])
    after = _snapshot(kv)
    assert [t.data_ptr() for t in (*kv.keys, *kv.values)] == pointers
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(t.shape[-2] == PREFIX for t in (*kv.keys, *kv.values))


def test_prefix_mismatch_is_refused(model: torch.nn.Module, ids: torch.Tensor,
                                    kv: KVCache) -> None:
    wrong = ids.clone()
    wrong[0, 3] = (wrong[0, 3] + 1) % VOCAB
    with pytest.raises(CacheMismatch):
        next_token_logits(model, kv, wrong)
    with pytest.raises(ValueError):
        next_token_logits(model, kv, ids[:, :PREFIX])  # nothing new to prefill


@pytest.mark.parametrize("attention", ["sdpa", static.SPLIT_ATTENTION])
def test_static_runner_equals_full_prefill(model: torch.nn.Module, ids: torch.Tensor,
                                           kv: KVCache, attention: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # small chunks so the split attention really splits the 48-token prefix (4 chunks of 12)
    monkeypatch.setattr(static, "_MIN_CHUNK", 12)
    monkeypatch.setattr(static, "_TARGET_BLOCKS", 264)
    assert static._chunks(PREFIX, 2, 16) == 4
    runner = static.StaticPrefixRunner(model, PREFIX, QUERY, attention=attention)
    runner.load(kv)
    full = _full_logits(model, ids)
    for _ in range(2):  # a second step over the same prefix gives the same answer
        out = runner.step(runner.check_prefix(ids))
        assert torch.allclose(out, full, atol=ATOL, rtol=0), (out - full).abs().max()


def test_save_load_round_trip_is_exact(tmp_path: Path, kv: KVCache,
                                       model: torch.nn.Module) -> None:
    save_cache(kv, tmp_path / "c")
    assert not any(p.suffix in {".pt", ".pkl", ".bin"} for p in (tmp_path / "c").iterdir())
    loaded = load_cache(tmp_path / "c", model_fingerprint=model_fingerprint(model),
                        adapter_id=None)
    assert loaded.manifest == kv.manifest
    assert torch.equal(loaded.prefix_ids, kv.prefix_ids)
    for a, b in zip((*loaded.keys, *loaded.values), (*kv.keys, *kv.values), strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_mismatched_model_or_adapter_is_refused(tmp_path: Path, kv: KVCache,
                                                model: torch.nn.Module) -> None:
    save_cache(kv, tmp_path / "c")
    fp = model_fingerprint(model)
    with pytest.raises(CacheMismatch, match="fingerprint"):
        load_cache(tmp_path / "c", model_fingerprint="0" * 64, adapter_id=None)
    with pytest.raises(CacheMismatch, match="adapter"):
        load_cache(tmp_path / "c", model_fingerprint=fp, adapter_id="lora-7")
    with pytest.raises(CacheMismatch, match="dtype"):
        load_cache(tmp_path / "c", model_fingerprint=fp, adapter_id=None, dtype=torch.bfloat16)
    # a corrupted tensor file is refused by its checksum
    path = tmp_path / "c" / "kv.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CacheMismatch, match="sha256"):
        load_cache(tmp_path / "c", model_fingerprint=fp, adapter_id=None)


def test_fingerprint_follows_the_weights(model: torch.nn.Module) -> None:
    fp = model_fingerprint(model)
    assert fp == model_fingerprint(model)
    name, param = sorted(model.state_dict().items())[0]
    with torch.no_grad():
        saved = param.clone()
        param.reshape(-1)[0] += 1.0
        try:
            assert model_fingerprint(model) != fp, name
        finally:
            param.copy_(saved)
    assert model_fingerprint(model) == fp


def test_render_prefix_is_byte_stable() -> None:
    texts = ["Maya lives in Porto.", "She likes\nsurfing  "]
    a, b = render_prefix(texts), render_prefix(list(texts))
    assert a == b and a.encode() == b.encode()
    assert "[2] She likes surfing\n" in a  # a memory is one line: no forged entries
    assert render_prefix(texts[::-1]) != a


def test_build_from_texts_with_an_in_process_tokenizer(model: torch.nn.Module) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["[UNK]", "relevant", "memories", "(oldest", "first):", "[1]", "[2]", "end", "of",
             "memories.", "maya", "lives", "in", "porto.", "where", "does", "live?"]
    words += [f"w{i}" for i in range(VOCAB - len(words))]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.normalizer = __import__("tokenizers").normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    kv = build_prefix_cache(model, tokenizer, ["Maya lives in Porto."], model_id="tiny",
                            cubes=[CubeRef("c1", 2)])
    assert kv.token_count == 12 and int(kv.prefix_ids[0]) == 1  # "relevant"
    assert 0 not in kv.prefix_ids.tolist()  # every word known: the template is what we think
    full_ids = extend_ids(kv, tokenizer, "Where does Maya live?")
    assert full_ids.shape == (1, 16)
    assert torch.allclose(next_token_logits(model, kv, full_ids), _full_logits(model, full_ids),
                          atol=ATOL, rtol=0)


def _fake_cache(n_bytes_per_tensor: int, key: int) -> KVCache:
    from graphmem.cubes.activation import KVManifest, token_ids_sha256

    t = torch.full((n_bytes_per_tensor // 4,), float(key))
    manifest = KVManifest(model_id="m", model_fingerprint="fp", dtype="torch.float32",
                          num_layers=1, token_count=1, prefix_sha256=token_ids_sha256([key]))
    return KVCache((t,), (t.clone(),), torch.tensor([key]), manifest)


def test_tiers_respect_budgets_and_evict_by_heat(tmp_path: Path) -> None:
    size = 2 * 4096  # bytes per cache (keys + values)
    store = TieredKVStore(gpu_bytes=2 * size, host_bytes=2 * size, disk_bytes=2 * size,
                          disk_dir=tmp_path, gpu_device="cpu")
    for i, heat in enumerate([5.0, 1.0, 3.0, 4.0, 2.0, 0.5, 6.0]):
        store.put(f"c{i}", _fake_cache(4096, i), heat=heat)
        for tier in Tier:
            assert store.used(tier) <= store.budgets[tier]
    # hottest two on the GPU tier, next two in host memory, next two on disk, coldest dropped
    assert {k for k in store.ids() if store.tier_of(k) == Tier.GPU} == {"c6", "c0"}
    assert {k for k in store.ids() if store.tier_of(k) == Tier.HOST} == {"c3", "c2"}
    assert {k for k in store.ids() if store.tier_of(k) == Tier.DISK} == {"c4", "c1"}
    assert "c5" not in store
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c1", "c4"]
    # a cold cache does not push hotter ones out: it lands lower
    assert store.put("cold", _fake_cache(4096, 9), heat=0.1) is None
    # moving up from disk: the coldest GPU cache is demoted, tensors survive the round trip
    store.set_heat("c4", 10.0)
    assert store.move("c4", Tier.GPU) == Tier.GPU
    assert store.tier_of("c0") == Tier.HOST and store.tier_of("c6") == Tier.GPU
    got = store.get("c4", model_fingerprint="fp", adapter_id=None)
    assert torch.equal(got.keys[0], torch.full((1024,), 4.0))
    with pytest.raises(CacheMismatch):
        store.get("c4", model_fingerprint="other", adapter_id=None)
    for tier in Tier:
        assert store.used(tier) <= store.budgets[tier]
    store.discard("c1")
    assert not (tmp_path / "c1").exists()


QWEN7B = ModelShape(layers=28, hidden=3584, heads=28, kv_heads=4, intermediate=18944,
                    vocab=152064)


def test_cost_model_says_when_reuse_pays() -> None:
    hw = Hardware()
    assert QWEN7B.kv_bytes_per_token() == 57344  # 28 layers x K,V x 4 heads x 128 x bf16
    gpu = estimate_reuse(QWEN7B, hw, 16384, 64, None)
    assert gpu.pays and gpu.reduction > 0.95
    assert reuse_pays(QWEN7B, hw, 16384, 64, tier_bytes_per_s=50e9)
    # a short prefix read from a slow disk costs more than recomputing it
    assert not reuse_pays(QWEN7B, hw, 256, 64, tier_bytes_per_s=0.2e9)
    # with eager transformers' fixed per-step cost (H200: 7B at 1k measured 39 ms cached vs
    # 31 ms full) reuse does not pay at 1k but does at 16k (33 vs 507 ms)
    eager = Hardware(efficiency=0.7, cached_extra_s=0.030)
    assert not reuse_pays(QWEN7B, eager, 1024, 64, tier_bytes_per_s=None)
    assert reuse_pays(QWEN7B, eager, 16384, 64, tier_bytes_per_s=None)
    e = estimate_reuse(QWEN7B, eager, 16384, 64, None)
    assert 0.4 < e.recompute_s < 0.6 and 0.02 < e.cached_s < 0.05  # measured 0.507 s, 0.033 s
