"""Token streaming: the local transformers backend (a worker thread feeding a queue), the
OpenAI-compatible backend (server-sent events from the scripted local server), the fallback
for a backend that cannot stream, GraphMem.chat_stream and `graphmem chat` printing the text.

The streamed text is checked against generations made without any streamer (model.generate
and generate_with_cache directly), so the streaming path cannot agree with itself by
construction; the time to first token is checked against a model slowed down per forward
pass and a server that pauses after its first piece.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from graphmem.api import GraphMem
from graphmem.chat import ChatAnswer, system_message
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.errors import LLMError
from graphmem.llm import ChatBackend, ChatResult, OpenAICompatibleBackend, TransformersBackend
from graphmem.settings import Settings
from tests.test_extractors_llm import Script, server, tiny_model  # noqa: F401  (fixtures)

MESSAGES = [{"role": "system", "content": system_message(
    ["Tom and I moved to Porto in March 2025.", "I work as a nurse in Braga."], "maya")},
    {"role": "user", "content": "Where do I live?"}]


def split(items: Sequence[str | ChatResult | ChatAnswer]) -> tuple[list[str], Any]:
    """(text pieces, the final item), checking that only the last item is not text."""
    *pieces, last = items
    assert all(isinstance(p, str) for p in pieces), items
    assert not isinstance(last, str)
    return [str(p) for p in pieces], last


# --- the local backend -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local(tiny_model: Path) -> TransformersBackend:  # noqa: F811
    return TransformersBackend(str(tiny_model), max_new_tokens=24, device="cpu")


def test_streamed_text_equals_plain_greedy_generate(local: TransformersBackend) -> None:
    tokenizer, model = local.load()
    ids = local.prompt_ids(MESSAGES)
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        plain = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                               max_new_tokens=24, do_sample=False,
                               pad_token_id=tokenizer.pad_token_id)[0, len(ids):]
    expected = tokenizer.decode(plain, skip_special_tokens=True)
    pieces, result = split(list(local.stream(MESSAGES)))
    assert "".join(pieces) == result.text == expected
    assert len(pieces) > 1, "the text came in pieces, not at the end"
    assert result.tokens_in == len(ids) and result.tokens_out == len(plain)
    assert local.complete(MESSAGES).text == expected


def test_streamed_text_with_a_prefix_cache_equals_full_prefill(
        local: TransformersBackend) -> None:
    from graphmem.cubes.activation import build_prefix_cache_from_ids
    from graphmem.cubes.activation.reuse import generate_with_cache

    tokenizer, model = local.load()
    ids = local.prompt_ids(MESSAGES)
    prefix = local.system_prefix_ids(MESSAGES[0]["content"])
    kv = build_prefix_cache_from_ids(model, prefix, model_id="tiny")
    reference = generate_with_cache(model, kv, torch.tensor([ids]), 24,
                                    eos_token_id=tokenizer.eos_token_id)[0]
    pieces, result = split(list(local.stream(MESSAGES, prefix=kv)))
    full_pieces, full = split(list(local.stream(MESSAGES)))
    assert "".join(pieces) == result.text == full.text == "".join(full_pieces)
    assert result.text == tokenizer.decode(reference, skip_special_tokens=True)
    assert result.ttft_ms is not None


def _slowed(model: torch.nn.Module, seconds: float) -> tuple[Any, list[float]]:
    """A forward hook that makes every forward pass take `seconds` longer, and the times
    at which the passes ended."""
    ends: list[float] = []

    def hook(*_: object) -> None:
        time.sleep(seconds)
        ends.append(time.perf_counter())

    return model.register_forward_hook(hook), ends


def test_ttft_is_taken_at_the_first_token(local: TransformersBackend) -> None:
    _, model = local.load()
    handle, ends = _slowed(model, 0.05)
    try:
        opened = time.perf_counter()
        items = list(local.stream(MESSAGES, max_new_tokens=8))
    finally:
        handle.remove()
    _, result = split(items)
    assert result.tokens_out == 8 and len(ends) >= 8
    first_pass_ms = (ends[0] - opened) * 1000.0
    second_pass_ms = (ends[1] - opened) * 1000.0
    assert result.ttft_ms is not None
    # the first token is known after the prefill pass, before the second pass ends
    assert first_pass_ms - 5.0 <= result.ttft_ms < second_pass_ms, (result.ttft_ms, ends)


def test_closing_the_stream_stops_generation(local: TransformersBackend) -> None:
    _, model = local.load()
    handle, ends = _slowed(model, 0.02)
    before = {t.ident for t in threading.enumerate()}
    try:
        stream = local.stream(MESSAGES, max_new_tokens=200)
        next(stream)
        stream.close()
        passes = len(ends)
        time.sleep(0.1)
        assert len(ends) == passes, "no forward pass after close()"
    finally:
        handle.remove()
    assert passes < 50
    assert not [t for t in threading.enumerate()
                if t.ident not in before and t.name == "graphmem-generate"]


def test_a_failed_generation_raises_in_the_consumer(local: TransformersBackend) -> None:
    from graphmem.cubes.activation import build_prefix_cache_from_ids
    from graphmem.cubes.activation.manifest import CacheMismatch

    _, model = local.load()
    other = build_prefix_cache_from_ids(model, [5, 6, 7, 8], model_id="tiny")
    with pytest.raises(CacheMismatch, match="prefix"):
        list(local.stream(MESSAGES, prefix=other))


# --- the OpenAI-compatible backend --------------------------------------------------------------


def test_openai_stream_yields_pieces_as_they_arrive(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.streamed(["You ", "live ", "in Porto."], usage=(120, 6), pause_after_first_s=0.4)
    backend = OpenAICompatibleBackend(url, "scripted-model", json_mode=False)
    opened = time.perf_counter()
    arrivals: list[tuple[float, str | ChatResult]] = []
    for item in backend.stream(MESSAGES, max_tokens=32):
        arrivals.append((time.perf_counter() - opened, item))
    pieces, result = split([item for _, item in arrivals])
    assert pieces == ["You ", "live ", "in Porto."] and result.text == "You live in Porto."
    assert (result.tokens_in, result.tokens_out) == (120, 6)
    assert arrivals[0][0] < 0.35 < arrivals[1][0], "the first piece came before the pause"
    assert result.ttft_ms is not None and result.ttft_ms < 350
    sent = script.requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["max_tokens"] == 32 and "response_format" not in sent


def test_openai_stream_without_stream_options(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.error(400, '{"error": "unknown field stream_options"}')
    script.streamed(["Porto."], usage=None)
    backend = OpenAICompatibleBackend(url, "scripted-model", json_mode=False,
                                      transport_retries=0)
    _, result = split(list(backend.stream(MESSAGES)))
    assert result.text == "Porto." and result.tokens_out >= 1  # estimated: no usage chunk
    assert "stream_options" in script.requests[0]
    assert "stream_options" not in script.requests[1]


def test_openai_stream_errors_are_clear(server: tuple[str, Script]) -> None:  # noqa: F811
    url, script = server
    script.error(401, '{"error": "bad key"}')
    backend = OpenAICompatibleBackend(url, "scripted-model", json_mode=False,
                                      transport_retries=0)
    with pytest.raises(LLMError, match="answered 401"):
        list(backend.stream(MESSAGES))


class _CompleteOnly(ChatBackend):
    model = "complete-only"

    def complete(self, messages: Sequence[dict[str, str]], *, schema: Any = None) -> ChatResult:
        return ChatResult("whole answer", 3, 2)


def test_a_backend_without_streaming_yields_its_answer_once() -> None:
    assert list(_CompleteOnly().stream(MESSAGES)) == ["whole answer",
                                                       ChatResult("whole answer", 3, 2)]


# --- GraphMem.chat_stream and the CLI ------------------------------------------------------------


@pytest.fixture
def scripted_mem(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder,
                 server: tuple[str, Script]) -> Iterator[tuple[GraphMem, Script]]:  # noqa: F811
    url, script = server
    settings = neo4j_settings.model_copy(update={
        "llm_base_url": url, "llm_model": "scripted-model", "extractor": "offline"})
    with GraphMem(settings, embedder=embedder) as mem:
        yield mem, script


def test_chat_stream_ends_with_the_answer(scripted_mem: tuple[GraphMem, Script],
                                          uid: str) -> None:
    mem, script = scripted_mem
    home = mem.remember("Tom and I moved to Porto in March 2025.", user_id=uid)
    script.streamed([" You live", " in Porto. "], usage=(90, 5), pause_after_first_s=0.3)
    pieces, answer = split(list(mem.chat_stream("Where do I live?", user_id=uid,
                                                remember=False)))
    assert isinstance(answer, ChatAnswer)
    assert pieces == [" You live", " in Porto. "] and answer.answer == "You live in Porto."
    assert [m.id for m in answer.memories][:1] == [home.id]
    assert "Porto in March 2025" in script.requests[0]["messages"][0]["content"]
    t = answer.timings
    assert t.ttft_ms is not None and t.ttft_ms < 250 and t.generation_ms >= 300
    assert answer.tokens_out == 5 and t.tokens_per_s is not None


def test_closing_chat_stream_early_remembers_nothing(scripted_mem: tuple[GraphMem, Script],
                                                     uid: str) -> None:
    mem, script = scripted_mem
    mem.remember("I live in Porto.", user_id=uid)
    script.streamed(["Porto", " it is."])
    stream = mem.chat_stream("Where do I live now?", user_id=uid, remember=True)
    assert next(stream) == "Porto"
    stream.close()
    assert [c.text for c in mem.list(user_id=uid)] == ["I live in Porto."]


def test_chat_stream_checks_its_input_at_once(scripted_mem: tuple[GraphMem, Script],
                                              uid: str) -> None:
    from graphmem.errors import InvalidInput

    mem, script = scripted_mem
    with pytest.raises(InvalidInput, match="user turn"):
        mem.chat_stream([{"role": "assistant", "content": "Hello"}], user_id=uid)
    assert script.requests == []


def test_local_chat_stream_with_a_kv_cache_hit_matches_chat(
        neo4j_settings: Settings, embedder: SentenceTransformerEmbedder, tiny_model: Path,  # noqa: F811
        tmp_path: Path, uid: str) -> None:
    settings = neo4j_settings.model_copy(update={
        "extractor": "offline", "cache_dir": tmp_path, "chat_remember": False})
    backend = TransformersBackend(str(tiny_model), max_new_tokens=12, device="cpu")
    with GraphMem(settings, embedder=embedder, chat_model=backend) as mem:
        mem.remember("Tom and I moved to Porto in March 2025.", user_id=uid)
        ids = [h.cube.id for h in mem.search("Where do I live?", user_id=uid)]
        cold = mem.chat("Where do I live?", user_id=uid)
        assert mem.activation is not None
        mem.activation.build(f"user:{uid}", ids, user=uid)
        pieces, warm = split(list(mem.chat_stream("Where do I live?", user_id=uid)))
    assert warm.kv_cache == "hit" and cold.kv_cache == "miss"
    assert "".join(pieces).strip() == warm.answer == cold.answer
    assert warm.tokens_out == cold.tokens_out and warm.timings.ttft_ms is not None


def test_cli_chat_prints_the_streamed_answer(scripted_mem: tuple[GraphMem, Script], uid: str,
                                             neo4j_settings: Settings) -> None:
    mem, script = scripted_mem
    mem.remember("I live in Porto.", user_id=uid)
    script.streamed(["You [b]live[/b]", " in Porto."])
    env = {"GRAPHMEM_NEO4J_URI": neo4j_settings.neo4j_uri,
           "GRAPHMEM_NEO4J_PASSWORD": neo4j_settings.neo4j_password.get_secret_value(),
           "GRAPHMEM_LLM_BASE_URL": str(mem.settings.llm_base_url),
           "GRAPHMEM_LLM_MODEL": "scripted-model", "GRAPHMEM_EXTRACTOR": "offline",
           "COLUMNS": "200"}
    result = CliRunner().invoke(__import__("graphmem.cli", fromlist=["app"]).app,
                                ["chat", "--user", uid, "-m", "Where do I live?",
                                 "--no-remember"], env=env)
    assert result.exit_code == 0, result.output
    assert "assistant> You [b]live[/b] in Porto.\n" in result.stdout, "model text is not markup"
    assert "memory " in result.stdout and "first token" in result.stdout
    assert script.requests[0]["stream"] is True
