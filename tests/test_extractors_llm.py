"""The LLM extractor against a real HTTP server and a real (tiny, random) transformers model.

The HTTP server is started here on 127.0.0.1 and returns SCRIPTED completions: each test
queues the exact texts a model would have answered (valid JSON, JSON in code fences with
trailing commas, truncated JSON, garbage), so the extractor's parsing, repair, retry and
provenance code runs for real over the wire. The local-model tests build a tiny Llama with
random weights and a tokenizer trained in memory; it can only produce garbage, which is what
the retry-then-fail path needs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from graphmem.extractors.base import Turn
from graphmem.extractors.errors import ExtractionError
from graphmem.extractors.factory import build_extractor
from graphmem.extractors.json_salvage import parse_json_object
from graphmem.extractors.llm import (
    LLMExtractor,
    Prompt,
)
from graphmem.extractors.offline import OfflineExtractor
from graphmem.llm import OpenAICompatibleBackend, TransformersBackend
from graphmem.settings import Settings

WHEN = datetime(2024, 5, 1, tzinfo=UTC)
TURNS = [
    Turn("ep-u1", "user", "I can't stand crowds, and I moved to Berlin in March 2023.", WHEN),
    Turn("ep-a1", "assistant", "Noted! You might like quiet cafés in Kreuzberg.", WHEN),
]
VALID: dict[str, Any] = {
    "entities": [{"name": "Berlin", "type": "place"}, {"name": "Kreuzberg", "type": "area"}],
    "relations": [{"source": "user", "relation": "lives in", "target": "Berlin", "turns": [1]}],
    "preferences": [
        {"text": "I can't stand crowds.", "topic": "crowds", "polarity": "Negative",
         "category": "dislike", "strength": 0.8, "turns": [1], "confidence": 0.9},
        {"text": "You might like quiet cafés.", "topic": "quiet cafés", "polarity": "positive",
         "category": "like", "turns": [2]},
    ],
    "facts": [{"text": "I moved to Berlin in March 2023.", "entities": ["Berlin"],
               "valid_from": "2023-03-01", "turns": [1]}],
}


@dataclass
class Script:
    """Completions to serve in order, and the requests that were received."""

    replies: list[tuple[int, dict[str, Any] | str | Streamed]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[Any] = field(default_factory=list)

    def completion(self, content: str, usage: tuple[int, int] | None = (100, 20)) -> None:
        body: dict[str, Any] = {"choices": [{"message": {"role": "assistant",
                                                         "content": content}}]}
        if usage:
            body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
        self.replies.append((200, body))

    def error(self, status: int, text: str) -> None:
        self.replies.append((status, text))

    def streamed(self, pieces: list[str], usage: tuple[int, int] | None = (100, 20),
                 pause_after_first_s: float = 0.0) -> None:
        """A streamed completion (server-sent events, as stream=True gets them): one chunk
        per piece, a pause after the first one, then the usage chunk and [DONE]."""
        self.replies.append((200, Streamed(pieces, usage, pause_after_first_s)))


@dataclass(frozen=True)
class Streamed:
    pieces: list[str]
    usage: tuple[int, int] | None
    pause_after_first_s: float

    @classmethod
    def of(cls, completion: dict[str, Any]) -> Streamed:
        usage = completion.get("usage")
        return cls([completion["choices"][0]["message"]["content"]],
                   (usage["prompt_tokens"], usage["completion_tokens"]) if usage else None, 0.0)

    def events(self) -> Iterator[tuple[bytes, float]]:
        """(event bytes, seconds to wait after sending it)."""
        def chunk(choices: list[Any], usage: dict[str, int] | None = None) -> bytes:
            body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                    "model": "scripted-model", "choices": choices,
                    **({"usage": usage} if usage else {})}
            return f"data: {json.dumps(body)}\n\n".encode()

        for i, piece in enumerate(self.pieces):
            yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]), (
                self.pause_after_first_s if i == 0 else 0.0)
        yield chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]), 0.0
        if self.usage:
            yield chunk([], {"prompt_tokens": self.usage[0],
                             "completion_tokens": self.usage[1]}), 0.0
        yield b"data: [DONE]\n\n", 0.0


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            script.requests.append(json.loads(self.rfile.read(length)))
            script.headers.append(self.headers)  # case-insensitive, as HTTP headers are
            status, body = script.replies.pop(0) if script.replies else (500, "script empty")
            if isinstance(body, dict) and status == 200 and script.requests[-1].get("stream"):
                body = Streamed.of(body)  # asked to stream: a scripted completion, in one piece
            if isinstance(body, Streamed):
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # no length: the stream ends when the connection closes
                for event, pause in body.events():
                    self.wfile.write(event)
                    self.wfile.flush()
                    time.sleep(pause)
                return
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    httpd.shutdown()
    httpd.server_close()


def settings_for(url: str, **extra: Any) -> Settings:
    return Settings(extractor="llm", llm_base_url=url, llm_model="scripted-model",
                    llm_max_retries=2, llm_timeout_s=5, **extra)


def test_valid_answer_becomes_an_extraction(server: tuple[str, Script]) -> None:
    url, script = server
    script.completion(json.dumps(VALID))
    extractor = LLMExtractor(settings_for(url, llm_api_key=SecretStr("sk-test")))
    got = extractor.extract(TURNS, user_id="u1")

    assert (got.extractor, got.model, got.prompt_version) == ("llm", "scripted-model",
                                                              "extract_v1")
    assert (got.tokens_in, got.tokens_out) == (100, 20)
    [pref] = [m for m in got.memories if m.kind == "preference"]  # assistant-only one dropped
    assert (pref.polarity, pref.category, pref.topic, pref.strength) == (
        "negative", "dislike", "crowds", 0.8)
    assert pref.episode_ids == ["ep-u1"]
    [fact] = [m for m in got.memories if m.kind == "fact"]
    assert fact.valid_from == datetime(2023, 3, 1, tzinfo=UTC)
    assert {e.name: e.type for e in got.entities} == {"Berlin": "place", "Kreuzberg": "other"}
    assert [(r.source, r.relation, r.target, r.episode_ids) for r in got.relations] == [
        ("u1", "LIVES_IN", "Berlin", ["ep-u1"])]

    [request] = script.requests
    assert request["model"] == "scripted-model" and request["temperature"] == 0
    # Structured output: the JSON schema of the extraction model itself.
    assert request["response_format"]["type"] == "json_schema"
    schema = request["response_format"]["json_schema"]
    assert schema["name"] == "ExtractionOut"
    assert set(schema["schema"]["properties"]) >= {"entities", "preferences", "facts"}
    assert "[1] user (2024-05-01): I can't stand crowds" in request["messages"][1]["content"]
    assert script.headers[0]["Authorization"] == "Bearer sk-test"


def test_fenced_json_with_trailing_commas_is_repaired_without_a_retry(
    server: tuple[str, Script],
) -> None:
    url, script = server
    body = json.dumps(VALID, indent=1).replace("]\n}", "],\n}").replace('"turns": [1]\n',
                                                                          '"turns": [1,]\n')
    script.completion(f"Here you go:\n```json\n{body}\n```")
    got = LLMExtractor(settings_for(url)).extract(TURNS, user_id="u1")
    assert len(script.requests) == 1
    assert [m.topic for m in got.memories if m.kind == "preference"] == ["crowds"]


def test_truncated_json_is_closed_when_what_is_left_is_valid(server: tuple[str, Script]) -> None:
    url, script = server
    first_pref: list[Any] = VALID["preferences"][:1]
    text = json.dumps({"preferences": first_pref, "facts": VALID["facts"]})
    script.completion(text[: text.index('"turns": [1]}]}') + len('"turns": [1]')])
    got = LLMExtractor(settings_for(url)).extract(TURNS, user_id="u1")
    assert len(script.requests) == 1
    assert [m.kind for m in got.memories] == ["preference", "fact"]


def test_truncated_preference_is_retried_with_the_error(server: tuple[str, Script]) -> None:
    url, script = server
    script.completion('{"preferences": [{"text": "I can\'t stand crowds.", "topic": "cro',
                      usage=(100, 10))
    script.completion(json.dumps(VALID), usage=(150, 20))
    got = LLMExtractor(settings_for(url)).extract(TURNS, user_id="u1")

    assert len(script.requests) == 2
    retry = script.requests[1]["messages"]
    assert retry[-2]["role"] == "assistant"
    assert retry[-2]["content"].startswith('{"preferences"')
    assert retry[-1]["content"].startswith("Your last output was invalid JSON: ")
    assert "polarity" in retry[-1]["content"]
    assert (got.tokens_in, got.tokens_out) == (250, 30)
    assert any(m.topic == "crowds" for m in got.memories)


def test_always_invalid_output_raises_after_the_retries(server: tuple[str, Script]) -> None:
    url, script = server
    for _ in range(3):
        script.completion("I'm sorry, I can't produce JSON today.")
    with pytest.raises(ExtractionError, match=r"no valid extraction JSON in 3 attempts"):
        LLMExtractor(settings_for(url)).extract(TURNS, user_id="u1")
    assert len(script.requests) == 3


def test_missing_usage_is_estimated(server: tuple[str, Script]) -> None:
    url, script = server
    script.completion(json.dumps(VALID), usage=None)
    got = LLMExtractor(settings_for(url)).extract(TURNS, user_id="u1")
    assert got.tokens_in > 500  # the system prompt alone is several hundred tokens
    assert 50 < got.tokens_out < 400


def test_server_without_json_mode_is_asked_again_without_it(server: tuple[str, Script]) -> None:
    """A server that knows neither structured output nor JSON mode: schema, then JSON mode,
    then nothing, and the instance remembers."""
    url, script = server
    script.error(400, '{"error": "unsupported parameter: response_format"}')
    script.error(400, '{"error": "unsupported parameter: response_format"}')
    script.completion(json.dumps(VALID))
    script.completion(json.dumps(VALID))
    backend = OpenAICompatibleBackend.from_settings(settings_for(url))
    extractor = LLMExtractor(settings_for(url), backend=backend)
    extractor.extract(TURNS, user_id="u1")
    extractor.extract(TURNS, user_id="u1")
    sent = [r.get("response_format", {}).get("type") for r in script.requests]
    assert sent == ["json_schema", "json_object", None, None]


def test_transient_server_errors_are_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.error(503, "busy")
    script.completion(json.dumps(VALID))
    got = LLMExtractor(settings_for(url)).extract(TURNS, user_id="u1")
    assert len(script.requests) == 2 and got.memories


def test_client_errors_are_reported(server: tuple[str, Script]) -> None:
    url, script = server
    script.error(401, '{"error": "bad key"}')
    with pytest.raises(ExtractionError, match="answered 401"):
        LLMExtractor(settings_for(url)).extract(TURNS, user_id="u1")


def test_turns_are_batched_and_assistant_only_batches_skipped(
    server: tuple[str, Script],
) -> None:
    url, script = server
    turns = [Turn(f"ep{i}", "user" if i % 2 == 0 else "assistant", f"turn {i}")
             for i in range(5)]
    turns[2] = Turn("ep2", "assistant", "turn 2")
    for _ in range(3):
        script.completion('{"preferences": [], "facts": []}')
    LLMExtractor(settings_for(url), batch_turns=2).extract(turns, user_id="u1")
    # batches: [u, a], [a, a] (skipped), [u]
    assert len(script.requests) == 2


def test_prompt_file_is_versioned() -> None:
    prompt = Prompt.load()
    assert prompt.version == "extract_v1"
    messages = prompt.messages(TURNS, "u1")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "JSON" in messages[0]["content"] and "User id: u1" in messages[1]["content"]
    with pytest.raises(ExtractionError, match="cannot be read"):
        Prompt.load("no_such_prompt")


def test_factory_picks_the_configured_extractor(tmp_path: Path) -> None:
    assert isinstance(build_extractor(Settings(extractor="auto")), OfflineExtractor)
    assert isinstance(build_extractor(Settings(extractor="offline", llm_local_model="x")),
                      OfflineExtractor)
    auto = build_extractor(Settings(extractor="auto", llm_base_url="http://127.0.0.1:9",
                                    llm_model="m"))
    assert isinstance(auto, LLMExtractor)
    local = build_extractor(Settings(extractor="auto", llm_local_model=str(tmp_path)))
    assert isinstance(local, LLMExtractor)
    assert isinstance(local.backend, TransformersBackend)
    with pytest.raises(ExtractionError, match="needs GRAPHMEM_LLM_BASE_URL"):
        build_extractor(Settings(extractor="llm"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n{"a": [1, 2,],}\n```', {"a": [1, 2]}),
        ('Sure: {"a": {"b": "x"}} Anything else?', {"a": {"b": "x"}}),
        # Cut inside a string: the unfinished member is dropped, never stored as "I lik".
        ('{"a": [{"t": "I lik', {"a": []}),
        ('{"a": [{"t": "ok"}, {"t": "I lik', {"a": [{"t": "ok"}]}),
        ('{"a": [{"t": "ok", "u": "I li', {"a": [{"t": "ok"}]}),
        ('<think>The user wants {json}.</think>{"a": 1}', {"a": 1}),
        ('{"a": 1, "b"', {"a": 1}),
        ('{"a": 1, "b": tru', {"a": 1}),
        ('{"a": "brace } in a string", "b": [1,]}', {"a": "brace } in a string", "b": [1]}),
    ],
)
def test_json_repair(text: str, expected: dict[str, Any]) -> None:
    assert parse_json_object(text) == expected


@pytest.mark.parametrize("text", ['{"a": 1 "b": 2}', "no json", "[1, 2]"])
def test_json_repair_refuses_what_it_cannot_fix(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json_object(text)


# --- a local transformers model -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with random weights and a byte-level BPE tokenizer trained here, saved
    like any local checkpoint (nothing is downloaded)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llm")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([Prompt.load().system] * 4, trainer=trainer)
    fast: Any = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="</s>",
    )
    fast.chat_template = ("{% for m in messages %}<s>{{ m.role }}\n{{ m.content }}</s>\n"
                          "{% endfor %}{% if add_generation_prompt %}<s>assistant\n{% endif %}")
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=fast.vocab_size, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=16384, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def test_transformers_backend_generates(tiny_model: Path) -> None:
    backend = TransformersBackend(str(tiny_model), max_new_tokens=12, device="cpu")
    result = backend.complete(Prompt.load().messages(TURNS, "u1"))
    assert isinstance(result.text, str)
    assert result.tokens_in > 100
    assert 0 < result.tokens_out <= 12


def test_garbage_from_a_local_model_ends_in_a_clear_error(tiny_model: Path) -> None:
    settings = Settings(extractor="llm", llm_local_model=str(tiny_model), llm_max_retries=1)
    extractor = LLMExtractor(
        settings, backend=TransformersBackend(str(tiny_model), max_new_tokens=12, device="cpu")
    )
    with pytest.raises(ExtractionError, match=r"no valid extraction JSON in 2 attempts") as err:
        extractor.extract(TURNS, user_id="u1")
    assert str(tiny_model) in str(err.value)
