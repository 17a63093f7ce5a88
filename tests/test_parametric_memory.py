"""Parametric memory in the graph against the real Neo4j with a tiny random local model: an
adapter distilled from a user's memories is a Parametric MemCube DERIVED_FROM their versions,
applied to that user's chats only, stale once a source changes, erased with its files by
purge, and built from lora promotion requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.cubes.parametric import LoraSettings
from graphmem.cubes.parametric.memory import ParametricMemory
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.llm import TransformersBackend
from graphmem.settings import Settings
from tests.test_extractors_llm import tiny_model  # noqa: F401  (fixture)

TINY = LoraSettings(rank=4, alpha=8, epochs=1, min_steps=2, batch_size=8, heldout_fraction=0.0,
                    patience=None, warmup_steps=0, max_length=64)


@pytest.fixture
def mem(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder,
        tiny_model: Path, tmp_path: Path) -> Iterator[GraphMem]:  # noqa: F811
    settings = neo4j_settings.model_copy(update={
        "extractor": "offline", "cache_dir": tmp_path, "chat_remember": False, "lora": TINY})
    backend = TransformersBackend(str(tiny_model), max_new_tokens=4, device="cpu")
    with GraphMem(settings, embedder=embedder, chat_model=backend, apply_schema=False) as m:
        yield m


def _parametric(mem: GraphMem) -> ParametricMemory:
    parametric = mem.parametric
    assert parametric is not None
    return parametric


def adapters(driver: Driver, owner_id: str) -> list[dict[str, object]]:
    records, _, _ = driver.execute_query(
        "MATCH (a:LoRAAdapter {owner_id: $o}) OPTIONAL MATCH (a)-[:DERIVED_FROM]->(c) "
        "RETURN a.id AS id, a.stale AS stale, a.path AS path, a.kind AS kind, "
        "a.memory_type AS memory_type, collect(c.vid) AS sources", o=owner_id)
    return [dict(r) for r in records]


def _facts(mem: GraphMem, uid: str) -> list[str]:
    return [mem.remember(t, user_id=uid).id for t in
            ("Zorblat is the capital of Quenya.", "Mira's cat is called Tofu.")]


def test_an_adapter_serves_its_owner_only(mem: GraphMem, uid: str, driver: Driver) -> None:
    ids = _facts(mem, uid)
    adapter_id = _parametric(mem).distil(f"user:{uid}", ids)
    [node] = adapters(driver, f"user:{uid}")
    assert node["id"] == adapter_id and node["kind"] == "lora_adapter"
    assert node["memory_type"] == "parametric" and node["stale"] is False
    assert sorted(node["sources"]) == sorted(f"{i}:v1" for i in ids)  # type: ignore[arg-type]
    assert (Path(str(node["path"])) / "adapter_config.json").is_file()
    assert mem.chat("What is the capital of Quenya?", user_id=uid).adapter == adapter_id
    # Another user, even one granted read on the owner's memories, never gets the adapter.
    mem.grant(f"scope:private:{uid}", f"user:{uid}reader", actor=f"user:{uid}")
    other = mem.chat("What is the capital of Quenya?", user_id=f"{uid}reader")
    assert other.adapter is None
    assert mem.chat("Where is Quenya?", user_id=uid).adapter is None, \
        "the grant changed the scope's ACL: the adapter went stale"


def test_an_adapter_goes_stale_with_its_sources(mem: GraphMem, uid: str,
                                               driver: Driver) -> None:
    ids = _facts(mem, uid)
    _parametric(mem).distil(f"user:{uid}", ids)
    mem.update(ids[1], "Mira's cat is called Miso.", actor=f"user:{uid}")
    assert [a["stale"] for a in adapters(driver, f"user:{uid}")] == [True]
    assert mem.chat("What is Mira's cat called?", user_id=uid).adapter is None
    listed = _parametric(mem).list(f"user:{uid}")
    assert [a["state"] for a in listed] == ["stale"]


def test_purge_erases_adapters_and_their_files(mem: GraphMem, uid: str,
                                               driver: Driver) -> None:
    _parametric(mem).distil(f"user:{uid}", _facts(mem, uid))
    [node] = adapters(driver, f"user:{uid}")
    mem.purge(user_id=uid, actor=f"user:{uid}")
    assert adapters(driver, f"user:{uid}") == []
    assert not Path(str(node["path"])).exists()


def test_lora_promotion_requests_are_distilled(mem: GraphMem, uid: str, driver: Driver) -> None:
    ids = _facts(mem, uid)
    request = mem.scheduler.promotions.queue("lora", ids, reason="test")
    assert request is not None
    made = _parametric(mem).distil_queued(f"user:{uid}")
    assert len(made) == 1 and [a["id"] for a in adapters(driver, f"user:{uid}")] == made
    [done] = mem.scheduler.promotions.list_queue(actor=f"user:{uid}", statuses=["done"])
    assert done.id == request.id and done.detail == made[0]


def test_cli_distill_and_scheduler_status_show_the_adapter(
        mem: GraphMem, uid: str, neo4j_settings: Settings, tiny_model: Path,  # noqa: F811
        tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from graphmem.cli import app

    _facts(mem, uid)
    env = {"GRAPHMEM_NEO4J_URI": neo4j_settings.neo4j_uri,
           "GRAPHMEM_NEO4J_PASSWORD": neo4j_settings.neo4j_password.get_secret_value(),
           "GRAPHMEM_LLM_LOCAL_MODEL": str(tiny_model), "GRAPHMEM_EXTRACTOR": "offline",
           "GRAPHMEM_CACHE_DIR": str(tmp_path), "GRAPHMEM_LORA": TINY.model_dump_json(),
           "COLUMNS": "200"}
    made = CliRunner().invoke(app, ["distill", "--user", uid, "--json"], env=env)
    assert made.exit_code == 0, made.output
    [adapter] = json.loads(made.stdout)
    assert adapter["kind"] == "lora_adapter" and adapter["cubes"] == 2
    shown = CliRunner().invoke(app, ["scheduler", "status", "--user", uid, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    artifacts = json.loads(shown.stdout)["artifacts"]
    assert [(a["id"], a["state"]) for a in artifacts] == [(adapter["id"], "fresh")]
