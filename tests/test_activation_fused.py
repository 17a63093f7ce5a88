"""The fused cached-prefix step (cubes/activation/fused.py) and its split-KV attention kernels
(prefix_attention.py), on the CPU.

The step runs its eager form here (no torch.compile, no CUDA graph: those need the GPU, where
benchmarks/kv_cache_gpu.py checks every row's logits against full prefill); the Triton
kernels run under Triton's interpreter (TRITON_INTERPRET=1, in a subprocess because the flag
is read when the kernels are defined). Reference: full prefill of the same ids, float32,
1e-4 absolute on the next-token logits, as in test_activation_kv.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from graphmem.cubes.activation import build_prefix_cache_from_ids  # noqa: E402
from graphmem.cubes.activation.fused import FusedPrefixRunner, supports  # noqa: E402
from graphmem.cubes.activation.manifest import CacheMismatch  # noqa: E402
from graphmem.cubes.activation.prefix_attention import (  # noqa: E402
    prefix_attention,
    reference_attention,
)

ATOL = 1e-4
VOCAB = 97
PREFIX = 45
QUERY = 7


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(4321)
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  initializer_range=0.2, attn_implementation="sdpa")
    if kind == "qwen2":  # q/k/v biases, untied head
        return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common)).eval()
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        **common, tie_word_embeddings=True, rope_theta=500.0)).eval()


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_fused_step_equals_full_prefill(kind: str) -> None:
    model = _model(kind)
    ids = torch.randint(0, VOCAB, (1, PREFIX + QUERY), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = model(input_ids=ids).logits[:, -1, :]
    kv = build_prefix_cache_from_ids(model, ids[0, :PREFIX], model_id=kind)
    snapshot = [t.clone() for t in (*kv.keys, *kv.values)]
    runner = FusedPrefixRunner(model, PREFIX, QUERY, compile=None)
    runner.load(kv)
    with torch.no_grad():
        after = model(input_ids=ids).logits[:, -1, :]
    assert torch.equal(before, after), "re-laying the weights changed the model"
    for _ in range(2):  # the prefix positions are never written: a second step agrees
        out = runner.step(runner.check_prefix(ids))
        assert torch.allclose(out, before, atol=ATOL, rtol=0), (out - before).abs().max()
    assert all(torch.equal(a, b) for a, b in zip(snapshot, (*kv.keys, *kv.values), strict=True))
    again = FusedPrefixRunner(model, PREFIX, QUERY, compile=None)  # reuses the fused buffers
    assert again.layers[0].wqkv.data_ptr() == runner.layers[0].wqkv.data_ptr()


def test_fused_runner_refuses_what_it_cannot_run() -> None:
    model = _model("qwen2")
    runner = FusedPrefixRunner(model, PREFIX, QUERY, compile=None)
    short = build_prefix_cache_from_ids(model, torch.arange(PREFIX - 1), model_id="q")
    with pytest.raises(CacheMismatch, match="runner holds"):
        runner.load(short)
    with pytest.raises(CacheMismatch, match="no prefix loaded"):
        runner.check_prefix(torch.zeros(1, PREFIX + QUERY, dtype=torch.long))
    with pytest.raises(ValueError, match="query must be"):
        runner.step(torch.zeros(1, QUERY + 1, dtype=torch.long))
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=1, n_embd=32, n_head=2, vocab_size=50))
    assert supports(gpt2) is not None
    with pytest.raises(NotImplementedError, match="gpt2"):
        FusedPrefixRunner(gpt2, 4, 2, compile=None)


def test_reference_attention_is_causal_over_the_new_block() -> None:
    """Query t sees the prefix and new keys 0..t: changing a later new key leaves it alone."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(4, 4, 8, generator=g)
    keys, values = torch.randn(2, 6, 8, generator=g), torch.randn(2, 6, 8, generator=g)
    new_k, new_v = torch.randn(2, 4, 8, generator=g), torch.randn(2, 4, 8, generator=g)
    out = reference_attention(q, keys, values, new_k, new_v, prefix=6)
    changed = new_k.clone()
    changed[:, 3] += 5.0  # the last new token's key
    out2 = reference_attention(q, keys, values, changed, new_v, prefix=6)
    assert torch.equal(out[:3], out2[:3]) and not torch.equal(out[3], out2[3])
    assert torch.equal(prefix_attention(q, keys, values, new_k, new_v, 6), out)  # CPU path


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
def test_split_kernels_equal_the_reference_under_the_interpreter() -> None:
    """Shapes with ragged row blocks, a ragged last chunk, a new-token block longer than a
    key block (rows that see none of its second block), one chunk, no prefix at all, half
    precision, and the single masked loop (split_loop=0). (bf16 tl.dot is
    wrong in Triton's CPU interpreter itself, so bf16 is checked on the GPU by the benchmark.)"""
    script = textwrap.dedent("""
        import torch
        from graphmem.cubes.activation.prefix_attention import PrefixAttention, reference_attention
        torch.manual_seed(0)
        cases = [(8, 4, 2, 16, 100, 3, 16, 16, torch.float32),
                 (5, 6, 2, 32, 37, 4, 16, 16, torch.float32),
                 (20, 4, 2, 16, 40, 8, 16, 16, torch.float32),
                 (8, 4, 2, 16, 3, 8, 16, 16, torch.float32),
                 (6, 4, 2, 16, 0, 8, 16, 16, torch.float32),
                 (16, 4, 1, 16, 200, 2, 32, 32, torch.float16),
                 (8, 4, 2, 16, 100, 3, 16, 16, torch.float32, 0)]
        for n, h, kvh, d, p, splits, bm, bn, dt, *loop in cases:
            keys = torch.randn(kvh, p + 5, d).to(dt)  # longer than the prefix: only p used
            values = torch.randn(kvh, p + 5, d).to(dt)
            new_k, new_v = torch.randn(kvh, n, d).to(dt), torch.randn(kvh, n, d).to(dt)
            q = torch.randn(n, h, d).to(dt)
            att = PrefixAttention(heads=h, kv_heads=kvh, head_dim=d, new_tokens=n, prefix=p,
                                  device=q.device, splits=splits, block_m=bm, block_n=bn,
                                  split_loop=loop[0] if loop else 1, use_kernels=True)
            got = att(q, keys, values, new_k, new_v).float()
            ref = reference_attention(q, keys, values, new_k, new_v, p).float()
            err = float((got - ref).abs().max())
            tol = 1e-5 if dt == torch.float32 else 2e-3
            assert err < tol, (n, h, kvh, d, p, splits, dt, err)
            print("ok", n, h, kvh, p, att.splits, err)
    """)
    root = Path(__file__).parents[1]
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok") == 7
