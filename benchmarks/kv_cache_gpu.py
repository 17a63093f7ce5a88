"""Activation memory on a GPU: TTFT with a reused prefix KV cache vs full prefill.

Qwen2.5-class architectures (0.5B, 7B, 32B dims), bf16, random weights (speed does not depend
on their values), SDPA, memory prefixes of 1k-32k tokens and a 64-token query. For each row:
median TTFT of full prefill; of the cached step with the cache resident on the GPU, in pinned
host memory and in a safetensors file on disk; eager transformers (DynamicCache copy, HF's
mask and SDPA) beside the optimised step (StaticCache, split-KV attention, one CUDA graph:
graphmem.cubes.activation.static). Beside each, the physical limit: the query step's floor
max((weights + cache bytes) / HBM bandwidth, FLOPs / matmul rate) plus the cache's bytes over
its tier's bandwidth, all measured in the same run, and the ratio measured / limit.

    python benchmarks/kv_cache_gpu.py --out benchmarks/results   # on a CUDA machine
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from graphmem.cubes.activation import (
    ModelShape,
    build_prefix_cache_from_ids,
    load_cache,
    model_fingerprint,
    next_token_logits,
    save_cache,
)
from graphmem.cubes.activation.fused import FusedPrefixRunner, supports
from graphmem.cubes.activation.prefix_attention import PrefixAttention, reference_attention
from graphmem.cubes.activation.static import SPLIT_ATTENTION, StaticPrefixRunner

VOCAB = 152064
ARCHS: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, intermediate_size=4864, tie_word_embeddings=True),
    "qwen2.5-7b": dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, intermediate_size=18944, tie_word_embeddings=False),
    "qwen2.5-32b": dict(hidden_size=5120, num_hidden_layers=64, num_attention_heads=40,
                        num_key_value_heads=8, intermediate_size=27648,
                        tie_word_embeddings=False),
}
# A dry run on the CPU (--device cpu) uses this toy arch to check the script end to end.
ARCHS["tiny"] = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, intermediate_size=128, tie_word_embeddings=False)
DEVICE = "cuda"
# MemOS KV-cache memory documentation: TTFT reduction with long context and a short query.
MEMOS = {"Qwen3-8B": 94.2, "Qwen3-32B": 88.8, "Qwen2.5-72B": 91.4}
# The split-KV attention's kernel configurations tried on the extras rows.
ATTENTION_CONFIGS: list[dict[str, int]] = [
    dict(splits=sp, block_m=bm, block_n=bn, num_warps=w, num_stages=st, split_loop=sl)
    for sp, bm, bn, w, st, sl in [
        (8, 64, 64, 4, 3, 0), (8, 64, 64, 4, 3, 1), (16, 64, 64, 4, 3, 1), (8, 64, 64, 4, 4, 1),
        (8, 64, 128, 4, 3, 1), (8, 128, 64, 8, 3, 1), (8, 128, 128, 8, 3, 1),
        (7, 128, 128, 8, 3, 1), (16, 128, 64, 8, 3, 1), (4, 128, 128, 8, 3, 1),
        (8, 128, 64, 4, 3, 1), (12, 64, 64, 4, 3, 1), (16, 64, 128, 4, 3, 1),
        (8, 64, 64, 4, 2, 1), (12, 128, 64, 8, 3, 1), (8, 128, 64, 8, 4, 1)]]


def log(*args: Any) -> None:
    print(*args, flush=True)


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def gpu() -> bool:
    return DEVICE == "cuda"


def median_ms(fn: Callable[[], Any], reps: int, warmup: int,
              before: Callable[[], None] | None = None) -> tuple[float, list[float]]:
    """Median wall time of fn() from a synchronised start to a synchronised end (TTFT as a
    caller sees it: host work, transfers and kernels)."""
    for _ in range(warmup):
        if before:
            before()
        fn()
        sync()
    times: list[float] = []
    for _ in range(reps):
        if before:
            before()
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), times


# -- ceilings, measured in the same run --------------------------------------------------------
def hbm_bandwidth() -> float:
    """Device-to-device copy, bytes read + written per second."""
    n = 1 << 31 if gpu() else 1 << 24  # 2 GiB
    a = torch.empty(n, dtype=torch.uint8, device=DEVICE).random_(0, 255)
    b = torch.empty_like(a)
    ms, _ = median_ms(lambda: b.copy_(a), reps=10, warmup=2)
    return 2 * n / (ms / 1e3)


def h2d_bandwidth() -> float:
    n = 1 << 30 if gpu() else 1 << 24
    host = torch.empty(n, dtype=torch.uint8, pin_memory=gpu()).random_(0, 255)
    dev = torch.empty(n, dtype=torch.uint8, device=DEVICE)
    ms, _ = median_ms(lambda: dev.copy_(host, non_blocking=True), reps=10, warmup=2)
    return n / (ms / 1e3)


def matmul_rate() -> float:
    n = 8192 if gpu() else 256
    a = torch.randn(n, n, device=DEVICE, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=DEVICE, dtype=torch.bfloat16)
    ms, _ = median_ms(lambda: a @ b, reps=10, warmup=3)
    return 2 * n**3 / (ms / 1e3)


def drop_page_cache(path: Path) -> None:
    """Ask the kernel to forget the file's cached pages (works for clean pages without root
    on Linux; some sandboxes ignore it, which the cold/warm read comparison reveals)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_bandwidth(path: Path, cold: bool) -> float:
    if cold:
        drop_page_cache(path)
    buf = memoryview(bytearray(64 << 20))
    size = 0
    t0 = time.perf_counter()
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            size += n
    return size / (time.perf_counter() - t0)


# -- the model ---------------------------------------------------------------------------------
def build_model(name: str) -> torch.nn.Module:
    import transformers as tf

    hf: Any = tf  # untyped-enough API surface (config kwargs, _from_config)
    config = hf.Qwen2Config(
        vocab_size=VOCAB, max_position_embeddings=65536, rope_theta=1e6, rms_norm_eps=1e-6,
        use_sliding_window=False, attn_implementation="sdpa", **ARCHS[name])
    torch.manual_seed(0)
    with torch.device(DEVICE):  # initialise on the device: a 32B model on the CPU takes minutes
        model: torch.nn.Module = hf.Qwen2ForCausalLM._from_config(
            config, dtype=torch.bfloat16)
    return model.eval()


def shape_of(model: torch.nn.Module) -> ModelShape:
    c: Any = model.config
    return ModelShape(layers=c.num_hidden_layers, hidden=c.hidden_size,
                      heads=c.num_attention_heads, kv_heads=c.num_key_value_heads,
                      intermediate=c.intermediate_size, vocab=c.vocab_size,
                      tied_embeddings=bool(c.tie_word_embeddings))


def weight_bytes_read(model: torch.nn.Module) -> int:
    """Bytes of weights one step reads: all parameters except an untied embedding table (a
    lookup reads 64 rows of it); a tied table is read once, as the LM head."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    c: Any = model.config
    if not c.tie_word_embeddings:
        emb = model.get_input_embeddings().weight  # type: ignore[operator]
        total -= emb.numel() * emb.element_size()
    return total


@torch.inference_mode()
def full_prefill(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """TTFT without reuse: prefill everything (the cache is built too, as generation needs it)."""
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    logits: torch.Tensor = out.logits[:, -1, :]
    return logits


def empty_cache() -> None:
    gc.collect()
    if gpu():
        torch.cuda.empty_cache()


def compare(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    a, b = a.float(), b.float()
    return {"max_abs_diff": float((a - b).abs().max()),
            "rel_l2": float((a - b).norm() / b.norm()),
            "same_argmax": float(bool(a.argmax() == b.argmax()))}


# -- one row -----------------------------------------------------------------------------------
def kernel_profile(make_runner: Callable[[], Any], kv: Any, q_ids: torch.Tensor, path: Path,
                   title: str) -> None:
    """Where a step's GPU time goes, per kernel (run without the graph, so the profiler sees
    each launch; kernel times are the same as inside the graph)."""
    from torch.profiler import ProfilerActivity, profile

    runner = make_runner()
    runner.load(kv)
    for _ in range(3):
        runner.step(q_ids)
    sync()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            runner.step(q_ids)
        sync()
    runner.release()
    try:
        text = prof.key_averages().table(sort_by="self_device_time_total", row_limit=30)
    except Exception:  # older torch spells it cuda
        text = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=30)
    path.write_text(f"5 steps of {title}, no graph\n" + text)
    log(text)


def attention_sweep(model: torch.nn.Module, kv: Any, query: int,
                    configs: list[dict[str, int]]) -> list[dict[str, Any]]:
    """The split-KV attention alone (one layer's real cache, random bf16 queries) for several
    kernel configurations: median of CUDA-event timings over 200 calls, and the error against
    the float32 SDPA reference."""
    c: Any = model.config
    heads, kvh = c.num_attention_heads, c.num_key_value_heads
    d = c.hidden_size // heads
    p = kv.token_count
    keys, values = kv.keys[0][0], kv.values[0][0]
    new_k = torch.randn(kvh, query, d, dtype=torch.bfloat16, device=DEVICE)
    new_v = torch.randn(kvh, query, d, dtype=torch.bfloat16, device=DEVICE)
    q = torch.randn(query, heads, d, dtype=torch.bfloat16, device=DEVICE)
    ref = reference_attention(q, keys, values, new_k, new_v, p).float()
    out: list[dict[str, Any]] = []
    for cfg in configs:
        try:
            att = PrefixAttention(heads=heads, kv_heads=kvh, head_dim=d, new_tokens=query,
                                  prefix=p, device=torch.device(DEVICE), **cfg)
            got = att(q, keys, values, new_k, new_v).float()
            err = float((got - ref).norm() / ref.norm())
            # GPU time, as inside the step's graph: 50 calls captured once, replayed (timing
            # Python launches would measure Triton's host-side launch cost instead)
            graph = torch.cuda.CUDAGraph()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                att(q, keys, values, new_k, new_v)
            torch.cuda.current_stream().wait_stream(side)
            with torch.cuda.graph(graph):
                for _ in range(50):
                    att(q, keys, values, new_k, new_v)
            ms, _ = median_ms(graph.replay, 10, 2)
            us = ms * 1e3 / 50
            out.append({**cfg, "splits_used": att.splits, "us": us, "rel_l2": err})
        except Exception as e:  # a config that does not compile must not cost the run
            out.append({**cfg, "error": repr(e)[:300]})
    for r in sorted(out, key=lambda r: r.get("us", 1e9)):
        log(f"  attention {r}")
    return out


def chunk_sweep(model: torch.nn.Module, kv: Any, q_ids: torch.Tensor, reps: int,
                ref: torch.Tensor) -> dict[str, Any]:
    """The graph step for several prefix split counts (the split-KV lever's one knob)."""
    from graphmem.cubes.activation import static

    c: Any = model.config
    rows = c.num_attention_heads // c.num_key_value_heads * q_ids.shape[1]
    saved = static._TARGET_BLOCKS
    out: dict[str, Any] = {}
    try:
        for target in (1, 32, 132, 264, 1056, 4224):
            static._TARGET_BLOCKS = target
            s = static._chunks(kv.token_count, c.num_key_value_heads, rows)
            if str(s) in out:
                continue
            runner = StaticPrefixRunner(model, kv.token_count, q_ids.shape[1],
                                        attention=SPLIT_ATTENTION, cuda_graph=gpu())
            runner.load(kv)
            ms, _ = median_ms(lambda r=runner: r.step(q_ids), reps, 3)  # type: ignore[misc]
            out[str(s)] = {"ms": ms, "check": compare(runner.step(q_ids), ref)}
            runner.release()
    finally:
        static._TARGET_BLOCKS = saved
    log(f"  split sweep (chunks: ms): {({k: round(v['ms'], 2) for k, v in out.items()})}")
    return out


def run_row(model: torch.nn.Module, name: str, prefix: int, query: int, reps: int,
            ceil: dict[str, float], disk_dir: Path, deadline: float, fp: str,
            sdpa_graph: bool, extras: bool, out_dir: Path,
            fused_options: dict[str, Any] | None = None,
            alt_compile: str | None = None, sweep: bool = False) -> dict[str, Any]:
    shape = shape_of(model)
    gen = torch.Generator(device=DEVICE).manual_seed(prefix)
    ids = torch.randint(0, VOCAB, (1, prefix + query), device=DEVICE, generator=gen)
    q_ids = ids[:, prefix:]
    row: dict[str, Any] = {"model": name, "prefix_tokens": prefix, "query_tokens": query}
    warm = 1 if prefix >= 16384 else 2

    full_ms, full_all = median_ms(lambda: full_prefill(model, ids), reps, warm)
    row["full_ms"], row["full_all_ms"] = full_ms, full_all
    ref = full_prefill(model, ids)

    kv = build_prefix_cache_from_ids(model, ids[0, :prefix], model_id=name, fingerprint=fp)
    row["cache_bytes"] = kv.nbytes
    assert kv.nbytes == prefix * shape.kv_bytes_per_token()

    # GPU-resident, eager transformers: DynamicCache over a copy, HF mask + SDPA.
    row["gpu_eager_ms"], _ = median_ms(lambda: next_token_logits(model, kv, ids), reps, warm)
    row["check_gpu_eager"] = compare(next_token_logits(model, kv, ids), ref)

    # GPU-resident, optimised: the runner IS the resident copy (prefix positions never written),
    # and with a copy of a stored cache into it first.
    runner = StaticPrefixRunner(model, prefix, query, attention=SPLIT_ATTENTION,
                                cuda_graph=gpu())
    runner.load(kv)
    sync()
    row["gpu_graph_ms"], row["gpu_graph_all_ms"] = median_ms(lambda: runner.step(q_ids), reps, 3)
    row["check_gpu_graph"] = compare(runner.step(q_ids), ref)

    def copy_then_step() -> torch.Tensor:
        runner.load(kv)
        return runner.step(q_ids)

    row["gpu_graph_copy_ms"], _ = median_ms(copy_then_step, reps, 2)

    kv_host = kv.to("cpu", pin_memory=gpu())
    sync()

    def host_graph() -> torch.Tensor:
        runner.load(kv_host, non_blocking=True)
        return runner.step(q_ids)

    row["host_graph_ms"], _ = median_ms(host_graph, reps, 2)
    row["check_host_graph"] = compare(host_graph(), ref)
    row["host_eager_ms"], _ = median_ms(lambda: next_token_logits(model, kv_host, ids), reps, 2)
    runner.release()
    empty_cache()

    # The fused step (graphmem.cubes.activation.fused), GPU-resident and from pinned host.
    if fused_options is not None and supports(model) is None:
        if extras or sweep:  # the attention kernel's configurations; the row runs the fastest
            row["attention_sweep"] = attention_sweep(model, kv, query, ATTENTION_CONFIGS)
            timed = [r for r in row["attention_sweep"] if "us" in r and r["rel_l2"] < 1e-2]
            if timed:
                best = min(timed, key=lambda r: r["us"])
                fused_options = {**fused_options, "attention": {
                    k: best[k] for k in ("splits", "block_m", "block_n", "num_warps",
                                         "num_stages", "split_loop")}}
        row["fused_attention"] = fused_options.get("attention")
        t0 = time.perf_counter()
        runner = FusedPrefixRunner(model, prefix, query, cuda_graph=gpu(), **fused_options)
        runner.load(kv)
        sync()
        row["fused_build_s"] = time.perf_counter() - t0
        row["gpu_fused_ms"], row["gpu_fused_all_ms"] = median_ms(
            lambda: runner.step(q_ids), reps, 3)
        row["check_gpu_fused"] = compare(runner.step(q_ids), ref)

        def fused_copy_then_step() -> torch.Tensor:
            runner.load(kv)
            return runner.step(q_ids)

        row["gpu_fused_copy_ms"], _ = median_ms(fused_copy_then_step, reps, 2)
        row["host_fused_ms"], row["host_fused_all_ms"] = median_ms(host_graph, reps, 2)
        row["check_host_fused"] = compare(host_graph(), ref)
    else:
        runner = StaticPrefixRunner(model, prefix, query, attention=SPLIT_ATTENTION,
                                    cuda_graph=gpu())

    # Disk: a safetensors file, read back to the GPU, then the optimised step.
    cache_dir = disk_dir / f"{name}-{prefix}"
    shutil.rmtree(cache_dir, ignore_errors=True)
    t0 = time.perf_counter()
    save_cache(kv_host, cache_dir)
    row["disk_write_s"] = time.perf_counter() - t0
    file = cache_dir / "kv.safetensors"
    row["disk_file_bytes"] = file.stat().st_size
    cold_bw = read_bandwidth(file, cold=True)
    warm_bw = read_bandwidth(file, cold=False)
    row["disk_read_cold_Bps"], row["disk_read_warm_Bps"] = cold_bw, warm_bw
    # If dropping the page cache did nothing, the "cold" read runs at the warm speed.
    dropped = cold_bw < 0.6 * warm_bw
    row["disk_mode"] = "cold (page cache dropped per run)" if dropped else "warm page cache"
    est_disk_s = reps * kv.nbytes / min(cold_bw, warm_bw)
    if time.monotonic() + est_disk_s * 1.5 > deadline:
        row["disk_ms"] = None
        row["disk_skipped"] = f"time budget (would take ~{est_disk_s:.0f} s)"
    else:
        def disk_step() -> torch.Tensor:
            loaded = load_cache(cache_dir, model_fingerprint=fp, adapter_id=None,
                                device=DEVICE, verify_checksum=False)
            runner.load(loaded)
            return runner.step(q_ids)

        row["disk_ms"], row["disk_all_ms"] = median_ms(
            disk_step, reps, 1, before=(lambda: drop_page_cache(file)) if dropped else None)
        row["disk_runner"] = type(runner).__name__
    shutil.rmtree(cache_dir, ignore_errors=True)

    runner.release()
    kv_host = kv_host.to("meta")  # frees the pinned copy
    empty_cache()
    if sdpa_graph:  # the same graph without the split attention: what that lever is worth
        plain = StaticPrefixRunner(model, prefix, query, attention="sdpa", cuda_graph=gpu())
        plain.load(kv)
        row["gpu_graph_sdpa_ms"], _ = median_ms(lambda: plain.step(q_ids), reps, 3)
        row["check_gpu_graph_sdpa"] = compare(plain.step(q_ids), ref)
        plain.release()
    empty_cache()
    if extras:
        try:
            if fused_options is not None:
                kernel_profile(lambda: FusedPrefixRunner(model, prefix, query, **fused_options),
                               kv, q_ids, out_dir / f"profile_fused_{name}_{prefix}.txt",
                               "the fused runner")
            kernel_profile(lambda: StaticPrefixRunner(model, prefix, query,
                                                      attention=SPLIT_ATTENTION),
                           kv, q_ids, out_dir / f"profile_{name}_{prefix}.txt",
                           "the static runner with split attention")
            if alt_compile and time.monotonic() + 240 < deadline:
                alt = FusedPrefixRunner(model, prefix, query, cuda_graph=gpu(),
                                        **{**(fused_options or {}), "compile": alt_compile})
                alt.load(kv)
                row["gpu_fused_alt_compile"] = alt_compile
                row["gpu_fused_alt_ms"], _ = median_ms(lambda: alt.step(q_ids), reps, 3)
                row["check_gpu_fused_alt"] = compare(alt.step(q_ids), ref)
                alt.release()
                log(f"  fused with compile={alt_compile}: {row['gpu_fused_alt_ms']:.2f} ms")
        except Exception as e:  # diagnostics must not cost the table
            row["extras_error"] = repr(e)
            log(f"  extras failed: {e!r}")
        empty_cache()

    # Limits: the query step's floor (weights + the cache read once from HBM, or its FLOPs),
    # plus the cache's bytes over the bandwidth of the tier it comes from.
    w = ceil["weight_bytes"]
    c = row["cache_bytes"]
    q_floor = max((w + c) / ceil["hbm_Bps"],
                  shape.prefill_flops(query, prefix) / ceil["matmul_flops"]) * 1e3
    disk_bw = cold_bw if dropped else warm_bw
    row["limit_gpu_ms"] = q_floor
    row["limit_host_ms"] = q_floor + c / ceil["h2d_Bps"] * 1e3
    row["limit_disk_ms"] = q_floor + c / disk_bw * 1e3
    row["limit_full_ms"] = max(w / ceil["hbm_Bps"],
                               shape.prefill_flops(prefix + query) / ceil["matmul_flops"]) * 1e3
    for tier, key in (("gpu", "gpu_graph_ms"), ("host", "host_graph_ms"), ("disk", "disk_ms"),
                      ("gpu_fused", "gpu_fused_ms"), ("host_fused", "host_fused_ms")):
        limit = row[f"limit_{tier.removesuffix('_fused')}_ms"]
        row[f"ratio_{tier}"] = (row[key] / limit) if row.get(key) else None
    for key in ("gpu_eager_ms", "gpu_graph_ms", "host_eager_ms", "host_graph_ms", "disk_ms",
                "gpu_fused_ms", "host_fused_ms"):
        if row.get(key):
            row[key.replace("_ms", "_reduction_pct")] = 100 * (1 - row[key] / full_ms)
    return row


def fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| model | prefix | cache MB | full ms | GPU eager ms | GPU graph ms (red.) | "
            "host eager ms | host graph ms (red.) | disk ms (red.) |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['prefix_tokens']} | {r['cache_bytes'] / 1e6:.0f} | "
            f"{fmt(r['full_ms'])} | {fmt(r['gpu_eager_ms'])} | {fmt(r['gpu_graph_ms'], '.2f')} "
            f"({fmt(r.get('gpu_graph_reduction_pct'))}%) | {fmt(r['host_eager_ms'])} | "
            f"{fmt(r['host_graph_ms'], '.2f')} ({fmt(r.get('host_graph_reduction_pct'))}%) | "
            f"{fmt(r.get('disk_ms'))} ({fmt(r.get('disk_reduction_pct'))}%) |")
    lines += ["", "| model | prefix | fused GPU ms (red.) | GPU limit ms | fused GPU / limit | "
              "fused host ms (red.) | host limit ms | fused host / limit | fused check rel L2 |",
              "|" + "---|" * 9]
    for r in rows:
        if r.get("gpu_fused_ms") is None:
            continue
        lines.append(
            f"| {r['model']} | {r['prefix_tokens']} | {fmt(r['gpu_fused_ms'], '.2f')} "
            f"({fmt(r.get('gpu_fused_reduction_pct'))}%) | {fmt(r['limit_gpu_ms'], '.2f')} | "
            f"{fmt(r['ratio_gpu_fused'], '.2f')} | {fmt(r['host_fused_ms'], '.2f')} "
            f"({fmt(r.get('host_fused_reduction_pct'))}%) | {fmt(r['limit_host_ms'], '.2f')} | "
            f"{fmt(r['ratio_host_fused'], '.2f')} | "
            f"{fmt(r['check_gpu_fused']['rel_l2'], '.4f')} |")
    lines += ["", "| model | prefix | GPU limit ms | GPU ratio | host limit ms | host ratio | "
              "disk limit ms | disk ratio | graph w/o split ms | graph+copy ms | disk mode |",
              "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['prefix_tokens']} | {fmt(r['limit_gpu_ms'], '.2f')} | "
            f"{fmt(r['ratio_gpu'], '.2f')} | {fmt(r['limit_host_ms'], '.2f')} | "
            f"{fmt(r['ratio_host'], '.2f')} | {fmt(r['limit_disk_ms'], '.1f')} | "
            f"{fmt(r['ratio_disk'], '.2f')} | {fmt(r.get('gpu_graph_sdpa_ms'), '.2f')} | "
            f"{fmt(r.get('gpu_graph_copy_ms'), '.2f')} | {r['disk_mode']} |")
    return "\n".join(lines)


def fused_options_of(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.compile == "off":
        return None
    attention = {k: int(v) for k, v in (kv.split("=") for kv in args.attn.split(",") if kv)}
    return {"compile": None if args.compile == "none" else args.compile,
            "attention": attention}


def run_model(name: str, prefixes: list[int], args: argparse.Namespace, ceil: dict[str, float],
              result: dict[str, Any], disk_dir: Path, out: Path, deadline: float) -> None:
    t0 = time.perf_counter()
    model = build_model(name)
    sync()
    init_s = time.perf_counter() - t0
    fp = model_fingerprint(model)
    w = weight_bytes_read(model)
    mceil = {**ceil, "weight_bytes": float(w)}
    q_ids = torch.randint(0, VOCAB, (1, args.query), device=DEVICE)
    q_eager, _ = median_ms(lambda: full_prefill(model, q_ids), args.reps, 2)
    runner0 = StaticPrefixRunner(model, 0, args.query, cuda_graph=gpu())
    q_graph, _ = median_ms(lambda: runner0.step(q_ids), args.reps, 3)
    runner0.release()
    fused_options = fused_options_of(args)
    q_fused = None
    if fused_options is not None and supports(model) is None:
        try:
            fused0 = FusedPrefixRunner(model, 0, args.query, cuda_graph=gpu(), **fused_options)
        except Exception as e:  # a compile failure: say so, and measure the eager fused step
            import traceback

            traceback.print_exc()
            result.setdefault("fused_errors", []).append(f"{name}: {e!r}"[:2000])
            fused_options["compile"] = None
            fused0 = FusedPrefixRunner(model, 0, args.query, cuda_graph=gpu(), **fused_options)
        q_fused, _ = median_ms(lambda: fused0.step(q_ids), args.reps, 3)
        fused0.release()
    probe = next(p for n, p in model.named_parameters() if "mlp.up_proj" in n)
    result["models"][name] = {
        "weight_std_probe": float(probe.detach().float().std()),  # random, not zeros
        "init_s": init_s, "weight_bytes_read": w, "fingerprint": fp,
        "params": sum(p.numel() for p in model.parameters()),
        "query_only_eager_ms": q_eager, "query_only_graph_ms": q_graph,
        "query_only_fused_ms": q_fused,
        "query_only_floor_ms": max(w / ceil["hbm_Bps"], shape_of(model).prefill_flops(
            args.query) / ceil["matmul_flops"]) * 1e3,
    }
    log(f"{name}: init {init_s:.1f} s, weights read {w / 1e9:.2f} GB, 64-token prefill "
        f"eager {q_eager:.2f} ms, graph {q_graph:.2f} ms, fused {fmt(q_fused, '.2f')} ms")
    for prefix in prefixes:
        if time.monotonic() > deadline:
            result["skipped"].append(f"{name}@{prefix}: time budget")
            continue
        t1 = time.perf_counter()
        try:
            row = run_row(model, name, prefix, args.query, args.reps, mceil, disk_dir,
                          deadline, fp, sdpa_graph=not args.no_sdpa_graph,
                          extras=f"{name}:{prefix}" in args.extras.split(","), out_dir=out,
                          fused_options=fused_options, alt_compile=args.alt_compile or None,
                          sweep=args.sweep)
        except torch.OutOfMemoryError as e:
            result["skipped"].append(f"{name}@{prefix}: out of memory ({e})")
            empty_cache()
            continue
        row["row_s"] = time.perf_counter() - t1
        result["rows"].append(row)
        log(f"  {prefix}: fused gpu {fmt(row.get('gpu_fused_ms'), '.2f')} "
            f"(x{fmt(row.get('ratio_gpu_fused'), '.2f')}) host "
            f"{fmt(row.get('host_fused_ms'), '.2f')} (x{fmt(row.get('ratio_host_fused'), '.2f')})"
            f" build {fmt(row.get('fused_build_s'))} s check {row.get('check_gpu_fused')}")
        log(f"  {prefix}: full {row['full_ms']:.1f} | gpu eager {row['gpu_eager_ms']:.2f} "
            f"graph {row['gpu_graph_ms']:.2f} (limit {row['limit_gpu_ms']:.2f}) | host graph "
            f"{row['host_graph_ms']:.2f} (limit {row['limit_host_ms']:.2f}) | disk "
            f"{fmt(row.get('disk_ms'))} | {row['row_s']:.0f} s | check "
            f"{row['check_gpu_graph']}")
        (out / "kv_cache_gpu.json").write_text(json.dumps(result, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(a for a in ARCHS if a != "tiny"))
    ap.add_argument("--prefixes", default="1024,4096,16384,32768")
    ap.add_argument("--only", default="", help="model:prefix pairs to run, e.g. qwen2.5-7b:16384")
    ap.add_argument("--query", type=int, default=64)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=480.0)
    ap.add_argument("--no-sdpa-graph", action="store_true")
    ap.add_argument("--extras", default="qwen2.5-7b:16384",
                    help="model:prefix rows that also get a split sweep and a kernel profile")
    ap.add_argument("--compile", default="default",
                    help="torch.compile mode of the fused step's pointwise parts; 'none': eager; "
                    "'off': no fused step at all")
    ap.add_argument("--alt-compile", default="max-autotune-no-cudagraphs",
                    help="on the extras rows, the fused step also with this compile mode")
    ap.add_argument("--attn", default="splits=8,block_m=64,block_n=64,num_warps=4,num_stages=3",
                    help="the fused step's split-KV attention configuration")
    ap.add_argument("--sweep", action="store_true",
                    help="sweep the attention configurations on every row, not only extras")
    ap.add_argument("--disk-dir", default="/tmp/graphmem-kvbench")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of the script itself")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    start = time.monotonic()
    deadline = start + args.budget_s
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    disk_dir = Path(args.disk_dir)
    disk_dir.mkdir(parents=True, exist_ok=True)
    import transformers

    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if gpu() else platform.processor(),
        "torch": torch.__version__,
        "transformers": transformers.__version__, "python": platform.python_version(),
        "query_tokens": args.query, "reps": args.reps, "memos_published_reduction_pct": MEMOS,
        "command": " ".join(sys.argv), "rows": [], "skipped": [], "models": {},
    }
    ceil = {"hbm_Bps": hbm_bandwidth(), "h2d_Bps": h2d_bandwidth(), "matmul_flops": matmul_rate()}
    result["ceilings"] = dict(ceil)
    log(f"ceilings: HBM {ceil['hbm_Bps'] / 1e12:.2f} TB/s, H2D {ceil['h2d_Bps'] / 1e9:.1f} GB/s, "
        f"bf16 matmul {ceil['matmul_flops'] / 1e12:.0f} TFLOP/s")
    only = {tuple(p.split(":")) for p in args.only.split(",") if p}
    for name in args.models.split(","):
        prefixes = [int(p) for p in args.prefixes.split(",")
                    if not only or (name, p) in only]
        if not prefixes:
            continue
        if time.monotonic() > deadline:
            result["skipped"].append(f"{name}: time budget")
            continue
        run_model(name, prefixes, args, ceil, result, disk_dir, out, deadline)
        empty_cache()
    result["total_s"] = time.monotonic() - start
    (out / "kv_cache_gpu.json").write_text(json.dumps(result, indent=1))
    text = table(result["rows"])
    (out / "kv_cache_gpu.md").write_text(text + "\n")
    log("\n" + text)
    log("\nMemOS published TTFT reductions: " + ", ".join(f"{k} {v}%" for k, v in MEMOS.items()))
    if result["skipped"]:
        log("skipped: " + "; ".join(result["skipped"]))
    log(f"total {result['total_s']:.0f} s")


if __name__ == "__main__":
    main()
