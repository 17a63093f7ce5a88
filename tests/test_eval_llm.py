"""The LLM path against a local OpenAI-compatible server whose completions are scripted.

No model runs anywhere: the server in this file matches a marker in the last message of each
request and returns the canned reply for it, so the tests pin down prompting, parsing, retries
and PrefEval's error taxonomy, not model quality.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from graphmem.errors import GraphMemError
from graphmem.eval.baselines import BM25Turns
from graphmem.eval.llm import (
    LLMError,
    OpenAICompatibleBackend,
    chat_from_settings,
    parse_yes_no,
)
from graphmem.eval.personamem import LLMChooser, load_contexts, load_questions
from graphmem.eval.prefeval import Form, LocateRule, PrefEvalItem
from graphmem.eval.prefeval_llm import Category, PrefEvalLLM, Verdict, parse_choice_letter
from graphmem.eval.protocol import EvalTurn, Retrieved
from graphmem.eval.report import prefeval_summary
from graphmem.eval.runner import run_personamem, run_prefeval
from graphmem.extractors.errors import ExtractionError
from graphmem.settings import Settings

SAMPLE = Path(__file__).parent / "data" / "personamem_sample"


@dataclass
class Script:
    """(marker, reply) rules checked in order against the last message; first match wins."""

    rules: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        for marker, reply in self.rules:
            if marker in last:
                return reply
        return "I have no script for that."


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), **body}
            )
            if script.fail_next > 0:
                script.fail_next -= 1
                self.send_response(503)
                self.end_headers()
                return
            payload = {
                "choices": [{"message": {"role": "assistant", "content": script.reply(body)}}]
            }
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


Served = tuple[Script, OpenAICompatibleBackend]


@pytest.fixture()
def server() -> Iterator[Served]:
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    chat = OpenAICompatibleBackend(
        f"http://127.0.0.1:{httpd.server_address[1]}/v1",
        "scripted",
        api_key="secret",
        json_mode=False,
        max_tokens=512,
    )
    try:
        yield script, chat
    finally:
        chat.close()
        httpd.shutdown()
        httpd.server_close()


def test_client_retries_then_answers(server: Served) -> None:
    script, client = server
    script.rules = [("ping", "pong")]
    script.fail_next = 1
    assert client.complete([{"role": "user", "content": "ping"}]).text == "pong"
    assert len(script.requests) == 2
    last = script.requests[-1]
    assert last["path"] == "/v1/chat/completions"
    assert last["auth"] == "Bearer secret"
    assert last["model"] == "scripted"
    assert (last["temperature"], last["max_tokens"]) == (0.0, 512)
    assert "response_format" not in last  # free text: no JSON mode
    script.fail_next = 5
    with pytest.raises(LLMError, match="answered 503"):
        client.complete([{"role": "user", "content": "ping"}])
    assert len(script.requests) == 5  # one try and two retries (transport_retries=2)


def test_per_call_options_override_the_defaults(server: Served) -> None:
    script, client = server
    client.complete([{"role": "user", "content": "x"}], json_mode=True, max_tokens=7,
                    temperature=0.5)
    last = script.requests[-1]
    assert last["response_format"] == {"type": "json_object"}
    assert (last["max_tokens"], last["temperature"]) == (7, 0.5)


def test_one_error_type_for_extraction_and_benchmarks() -> None:
    assert issubclass(LLMError, ExtractionError) and issubclass(LLMError, GraphMemError)
    assert chat_from_settings(Settings()) is None
    chat = chat_from_settings(
        Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m", llm_max_retries=0)
    )
    assert chat is not None
    with chat, pytest.raises(LLMError, match="unreachable"):
        chat.complete([{"role": "user", "content": "x"}])
    assert (chat.model, chat.json_mode, chat.max_tokens) == ("m", False, 512)


def test_parsers() -> None:
    assert parse_yes_no("Reasoning...\nAnswer: Yes") is True
    assert parse_yes_no("answer: no. Answer: **yes**") is True
    assert parse_yes_no("No, it does not.") is False
    assert parse_yes_no("unclear") is None
    assert parse_choice_letter("<choice>C</choice>", 4) == 2
    assert parse_choice_letter("I pick B because", 4) == 1
    assert parse_choice_letter("<choice>E</choice>", 4) is None
    assert parse_choice_letter("none", 4) is None


@pytest.mark.parametrize(
    ("verdict", "category"),
    [
        (Verdict(True, False, False, True), Category.FOLLOWED),
        (Verdict(False, False, False, False), Category.UNHELPFUL),
        (Verdict(True, True, False, True), Category.INCONSISTENT),
        (Verdict(True, True, True, True), Category.HALLUCINATION),
        (Verdict(False, True, True, True), Category.UNAWARE),
        (Verdict(False, True, False, True), Category.UNAWARE),
        (Verdict(True, False, True, True), Category.FOLLOWED),
    ],
)
def test_prefeval_taxonomy(verdict: Verdict, category: Category) -> None:
    assert verdict.category is category


def _item() -> PrefEvalItem:
    turns = (
        EvalTurn("p-0", "user", "I refuse to use rental cars that are not electric or hybrid."),
        EvalTurn("p-1", "assistant", "Noted."),
    )
    return PrefEvalItem(
        topic="travel",
        index=0,
        form=Form.EXPLICIT,
        preference=turns[0].content,
        question="Which car should I rent for my road trip?",
        explanation="",
        turns=turns,
        relevant_turn_ids=frozenset({"p-0"}),
        locate_rule=LocateRule.GIVEN,
        mcq_options=("A Tesla Model 3.", "A Ford F-150.", "A Jeep Wrangler.", "A gas Camry."),
    )


def test_prefeval_generation_judge_and_mcq(server: Served) -> None:
    script, client = server
    item = _item()
    _, correct = item.mcq()
    script.rules = [
        ("(Please respond within", "Since you prefer electric cars, rent a Tesla Model 3."),
        ("take into account", "It mentions electric cars.\nAnswer: Yes"),
        ("goes against", "Answer: No"),
        ("attribute to the user", "Answer: No"),
        ("useful content", "Answer: Yes"),
        ("<choice>X</choice>", f"<choice>{'ABCD'[correct]}</choice>"),
    ]
    inter = [
        EvalTurn(f"inter-{i}", r, f"unrelated chat {i}")
        for i, r in enumerate(["user", "assistant"] * 3)
    ]
    outcomes = run_prefeval(
        [item], inter, [BM25Turns()], settings=[0, 3], llm=PrefEvalLLM(client), progress=False
    )
    assert [o.category for o in outcomes] == [Category.FOLLOWED.value] * 2
    assert all(o.mcq_correct for o in outcomes)
    assert outcomes[0].response is not None and "Tesla" in outcomes[0].response
    generation = next(
        r for r in script.requests if "respond within" in r["messages"][-1]["content"]
    )
    assert item.preference in generation["messages"][0]["content"]  # retrieved memory in prompt
    row = prefeval_summary(outcomes, (1, 5))["overall"][0]
    assert row["rate:followed"] == 1.0 and row["mcq_accuracy"] == 1.0


def test_judge_reads_violation(server: Served) -> None:
    script, client = server
    script.rules = [
        ("take into account", "Answer: No"),
        ("goes against", "Answer: Yes"),
        ("attribute to the user", "Answer: No"),
        ("useful content", "gibberish"),  # unreadable helpfulness counts as helpful
    ]
    verdict = PrefEvalLLM(client).judge("pref", "question", "Rent a V8 muscle car.")
    assert verdict.category is Category.UNAWARE
    assert len(script.requests) == 4


def test_personamem_llm_chooser(server: Served) -> None:
    script, client = server
    questions = load_questions(SAMPLE / "questions.csv")
    contexts = load_contexts(SAMPLE / "shared_contexts.jsonl")
    # q-a2 and q-a3 ask the same question; the script answers it as q-a3 expects, "(b)".
    answers = {q.question: f"The answer is {q.correct_answer}." for q in questions}
    script.rules = list(answers.items())
    outcomes = run_personamem(
        questions, contexts, [BM25Turns()], LLMChooser(client), k=3, progress=False
    )
    assert {o.question_id for o in outcomes if not o.is_correct} == {"q-a2"}
    prompts = [r["messages"][0]["content"] for r in script.requests]
    assert any("vegetarian" in p for p in prompts)


def test_llm_chooser_unreadable_answer_scores_wrong(server: Served) -> None:
    script, client = server
    script.rules = [("Pick the best", "I cannot decide.")]
    got = LLMChooser(client).choose("q?", ["x", "y"], [Retrieved("m", [])])
    assert got is None
