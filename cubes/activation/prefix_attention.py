# Triton kernels take untyped pointers and constexprs; the Python around them is typed.
# mypy: disable-error-code="untyped-decorator,no-untyped-def"
"""Attention of q new tokens over a long cached prefix plus themselves, split over the keys.

64 queries against 16k cached keys give a flash kernel a handful of blocks (one per KV head
and row block) that each walk all 16k keys: most of the GPU idles (measured on an H200: 57 us
a layer for Qwen2.5-7B). Here the keys are split into chunks attended in parallel and merged
by log-sum-exp (flash-decoding), in two Triton kernels, and the query heads that share a KV
head are rows of one block, so each KV head's keys are read once per row block (no repeat_kv).
The mask needs no tensor: every query sees every prefix key, and query t (of n) sees the new
keys 0..t, which come straight from the projection (nothing is written into the cache).

`prefix_attention` is the entry point; without Triton or on the CPU it computes the same with
PyTorch's SDPA (the reference the kernels are tested against).
"""

from __future__ import annotations

import math
from typing import Any

import torch

try:  # an optional dependency: present wherever PyTorch runs on a CUDA device
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised where triton is missing
    triton = None


def reference_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                        new_keys: torch.Tensor, new_values: torch.Tensor, prefix: int,
                        scale: float | None = None) -> torch.Tensor:
    """q [n, H, D]; keys/values [KVH, >= prefix, D] (the cached prefix, first `prefix`
    positions used); new_keys/new_values [KVH, n, D]. Returns [n, H, D]. Float32 SDPA with
    an explicit mask: the reference, and the path on the CPU."""
    n, h = q.shape[0], q.shape[1]
    kvh = keys.shape[0]
    k = torch.cat([keys[:, :prefix], new_keys], dim=1).float().repeat_interleave(h // kvh, 0)
    v = torch.cat([values[:, :prefix], new_values], dim=1).float().repeat_interleave(h // kvh, 0)
    rows = torch.arange(n, device=q.device).unsqueeze(1)
    cols = torch.arange(prefix + n, device=q.device).unsqueeze(0)
    out = torch.nn.functional.scaled_dot_product_attention(
        q.float().transpose(0, 1), k, v, attn_mask=cols <= prefix + rows, scale=scale)
    return out.transpose(0, 1).to(q.dtype)


if triton is not None:

    @triton.jit
    def _partial_kernel(Q, K, V, KN, VN, OP, LP, qk_scale, prefix, chunk, prefix_splits,
                        total_rows, stride_qt, stride_qh, stride_kh, stride_kl, stride_vh,
                        stride_vl, stride_nh, stride_nl, stride_ps, stride_pr,
                        N_NEW: tl.constexpr, GROUP: tl.constexpr, D: tl.constexpr,
                        BM: tl.constexpr, BN: tl.constexpr, SPLIT_LOOP: tl.constexpr) -> None:
        # Row blocks vary fastest, so the blocks that read the same keys run side by side and
        # share them through L2 (the keys are read from HBM about once).
        m = tl.program_id(0)  # block of the GROUP * N_NEW query rows of this KV head
        s = tl.program_id(1)  # key chunk of the prefix, or (the last) the new tokens' keys
        j = tl.program_id(2)  # KV head
        rows = m * BM + tl.arange(0, BM)
        row_ok = rows < GROUP * N_NEW
        head = j * GROUP + rows // N_NEW
        t = rows % N_NEW
        dims = tl.arange(0, D)
        q = tl.load(Q + t[:, None] * stride_qt + head[:, None] * stride_qh + dims[None, :],
                    mask=row_ok[:, None], other=0.0)
        # chunks of the prefix (every query sees all of them), then the new tokens' keys
        # (query t sees new keys 0..t)
        is_new = s >= prefix_splits
        if is_new:
            kp = KN + j * stride_nh
            vp = VN + j * stride_nh
            skl = stride_nl
            svl = stride_nl
        else:
            kp = K + j * stride_kh
            vp = V + j * stride_vh
            skl = stride_kl
            svl = stride_vl
        start = tl.where(is_new, 0, s * chunk)
        end = tl.where(is_new, N_NEW, tl.minimum(s * chunk + chunk, prefix))
        offset = tl.where(is_new, 0, prefix)
        m_i = tl.full([BM], float("-inf"), tl.float32)
        l_i = tl.zeros([BM], tl.float32)
        acc = tl.zeros([BM, D], tl.float32)
        # Whole key blocks of the prefix need no mask at all (every query sees every prefix
        # key): they run first, without one; the ragged end and the causal new block after.
        if SPLIT_LOOP:
            mid = tl.where(is_new, start, start + (end - start) // BN * BN)
            for k0 in range(start, mid, BN):
                cols = k0 + tl.arange(0, BN)
                k = tl.load(kp + cols[None, :] * skl + dims[:, None])
                qk = tl.dot(q, k) * qk_scale
                m_new = tl.maximum(m_i, tl.max(qk, 1))  # finite: every row sees every key
                p = tl.math.exp2(qk - m_new[:, None])
                alpha = tl.math.exp2(m_i - m_new)
                l_i = l_i * alpha + tl.sum(p, 1)
                v = tl.load(vp + cols[:, None] * svl + dims[None, :])
                acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
                m_i = m_new
            start = mid
        for k0 in range(start, end, BN):
            cols = k0 + tl.arange(0, BN)
            col_ok = cols < end
            k = tl.load(kp + cols[None, :] * skl + dims[:, None], mask=col_ok[None, :],
                        other=0.0)
            qk = tl.dot(q, k) * qk_scale  # log2 units
            seen = col_ok[None, :] & (cols[None, :] <= offset + t[:, None])
            qk = tl.where(seen, qk, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(qk, 1))
            m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows that saw nothing yet
            p = tl.math.exp2(qk - m_safe[:, None])
            alpha = tl.math.exp2(m_i - m_safe)
            l_i = l_i * alpha + tl.sum(p, 1)
            v = tl.load(vp + cols[:, None] * svl + dims[None, :], mask=col_ok[:, None],
                        other=0.0)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_new
        seen_any = l_i > 0
        out = acc / tl.where(seen_any, l_i, 1.0)[:, None]
        lse = tl.where(seen_any, m_i + tl.math.log2(tl.where(seen_any, l_i, 1.0)),
                       float("-inf"))
        grow = j * GROUP * N_NEW + rows  # row of [H * N_NEW]: head-major, then token
        tl.store(OP + s * stride_ps + grow[:, None] * stride_pr + dims[None, :], out,
                 mask=row_ok[:, None])
        tl.store(LP + s * total_rows + grow, lse, mask=row_ok)

    @triton.jit
    def _merge_kernel(OP, LP, OUT, total_rows, stride_ps, stride_pr, stride_ot, stride_oh,
                      SPLITS: tl.constexpr, N_NEW: tl.constexpr, D: tl.constexpr,
                      BR: tl.constexpr) -> None:
        rows = tl.program_id(0) * BR + tl.arange(0, BR)
        ok = rows < total_rows
        dims = tl.arange(0, D)
        best = tl.full([BR], float("-inf"), tl.float32)
        for s in tl.static_range(SPLITS):
            best = tl.maximum(best, tl.load(LP + s * total_rows + rows, mask=ok,
                                            other=float("-inf")))
        best = tl.where(best == float("-inf"), 0.0, best)
        acc = tl.zeros([BR, D], tl.float32)
        weight = tl.zeros([BR], tl.float32)
        for s in tl.static_range(SPLITS):
            w = tl.math.exp2(tl.load(LP + s * total_rows + rows, mask=ok,
                                     other=float("-inf")) - best)
            part = tl.load(OP + s * stride_ps + rows[:, None] * stride_pr + dims[None, :],
                           mask=ok[:, None], other=0.0)
            acc += w[:, None] * part
            weight += w
        out = acc / tl.where(weight > 0, weight, 1.0)[:, None]
        head = rows // N_NEW
        t = rows % N_NEW
        tl.store(OUT + t[:, None] * stride_ot + head[:, None] * stride_oh + dims[None, :],
                 out.to(OUT.dtype.element_ty), mask=ok[:, None])


class PrefixAttention:
    """The split-KV kernels for one fixed shape, with their scratch buffers allocated once
    (so a CUDA graph can capture the calls): the prefix in about `splits` chunks plus one
    block for the new tokens' keys; BM query rows and BN keys per block. split_loop=0 runs
    every block through the masked loop (the first version, kept to compare)."""

    def __init__(self, *, heads: int, kv_heads: int, head_dim: int, new_tokens: int,
                 prefix: int, device: torch.device, splits: int = 8, block_m: int = 64,
                 block_n: int = 64, num_warps: int = 4, num_stages: int = 3,
                 split_loop: int = 1, scale: float | None = None,
                 use_kernels: bool | None = None) -> None:
        if heads % kv_heads:
            raise ValueError("query heads must be a multiple of KV heads")
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.n, self.prefix = new_tokens, prefix
        blocks = -(-prefix // block_n)  # chunks are whole key blocks: only the last is ragged
        self.chunk = max(1, -(-blocks // max(1, min(splits, blocks)))) * block_n
        self.prefix_splits = -(-prefix // self.chunk)
        self.splits = self.prefix_splits + 1
        self.block_m, self.block_n = block_m, block_n
        self.num_warps, self.num_stages = num_warps, num_stages
        self.split_loop = bool(split_loop)  # 0: one masked loop over every block
        self.scale = scale if scale is not None else 1.0 / math.sqrt(head_dim)
        # the kernels run on CUDA, or on the CPU under TRITON_INTERPRET=1 (their tests)
        self.use_kernels = (triton is not None and device.type == "cuda") \
            if use_kernels is None else use_kernels
        rows = heads * new_tokens
        self.partial = torch.empty(self.splits, rows, head_dim, dtype=torch.float32,
                                   device=device)
        self.lse = torch.empty(self.splits, rows, dtype=torch.float32, device=device)

    def __call__(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                 new_keys: torch.Tensor, new_values: torch.Tensor,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        """q [n, H, D]; keys/values [KVH, >= prefix, D] (the cache); new_keys/new_values
        [KVH, n, D] (contiguous); returns (or fills) out [n, H, D] in q's dtype. The cache is
        only read: the new tokens' keys never need to be written into it for this step."""
        if not self.use_kernels:
            result = reference_attention(q, keys, values, new_keys, new_values, self.prefix,
                                         self.scale)
            return result if out is None else out.copy_(result)
        if new_values.stride() != new_keys.stride() or new_keys.stride(-1) != 1:
            raise ValueError("new keys and values must be contiguous [KVH, n, D]")
        if out is None:
            out = torch.empty_like(q)
        group = self.heads // self.kv_heads
        rows = self.heads * self.n
        grid: Any = (triton.cdiv(group * self.n, self.block_m), self.splits, self.kv_heads)
        _partial_kernel[grid](
            q, keys, values, new_keys, new_values, self.partial, self.lse,
            self.scale * 1.4426950408889634, self.prefix, self.chunk, self.prefix_splits, rows,
            q.stride(0), q.stride(1), keys.stride(0), keys.stride(1), values.stride(0),
            values.stride(1), new_keys.stride(0), new_keys.stride(1),
            self.partial.stride(0), self.partial.stride(1),
            N_NEW=self.n, GROUP=group, D=self.head_dim, BM=self.block_m, BN=self.block_n,
            SPLIT_LOOP=self.split_loop, num_warps=self.num_warps, num_stages=self.num_stages)
        br = 16
        _merge_kernel[(triton.cdiv(rows, br),)](
            self.partial, self.lse, out, rows, self.partial.stride(0), self.partial.stride(1),
            out.stride(0), out.stride(1), SPLITS=self.splits, N_NEW=self.n, D=self.head_dim,
            BR=br, num_warps=4)
        return out


def prefix_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                     new_keys: torch.Tensor, new_values: torch.Tensor, prefix: int,
                     **options: Any) -> torch.Tensor:
    """One call of PrefixAttention for this shape (allocates its scratch each time: for
    tests and one-offs; a runner keeps one PrefixAttention)."""
    n, h, d = q.shape
    attention = PrefixAttention(heads=h, kv_heads=keys.shape[0], head_dim=d, new_tokens=n,
                                prefix=prefix, device=q.device, **options)
    return attention(q, keys, values, new_keys, new_values)
