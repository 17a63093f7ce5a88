"""PersonaMem on the hand-written sample: loading, the retrieval chooser, and no future leaks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from graphmem.eval.baselines import BM25Turns, CachedEncoder, DenseTurns, NoMemory, load_minilm
from graphmem.eval.personamem import (
    PersonaMemQuestion,
    RetrievalChooser,
    label_index,
    load_contexts,
    load_questions,
    parse_options,
    visible_turns,
)
from graphmem.eval.protocol import EvalTurn, MemorySystem, Retrieved
from graphmem.eval.report import personamem_summary, write_personamem_report
from graphmem.eval.runner import run_personamem

SAMPLE = Path(__file__).parent / "data" / "personamem_sample"


@pytest.fixture(scope="module")
def questions() -> list[PersonaMemQuestion]:
    return load_questions(SAMPLE / "questions.csv")


@pytest.fixture(scope="module")
def contexts() -> dict[str, list[EvalTurn]]:
    return load_contexts(SAMPLE / "shared_contexts.jsonl")


@pytest.fixture(scope="module")
def chooser() -> RetrievalChooser:
    encoder: CachedEncoder = load_minilm()
    return RetrievalChooser(encoder)


def test_loader(questions: list[PersonaMemQuestion], contexts: dict[str, list[EvalTurn]]) -> None:
    assert len(questions) == 8
    assert len({q.question_type for q in questions}) == 3
    assert set(contexts) == {"ctx-7f3a9c2e", "ctx-b81d44f0"}
    q = questions[0]
    assert q.correct_answer == "(b)" and q.correct_index == 1
    assert len(q.options) == 4 and q.options[0].startswith("(a) ")
    assert q.option_texts[0] == "A thick steak with fries."
    assert "distance_to_ref_in_blocks" in q.extra
    assert contexts["ctx-7f3a9c2e"][0].role == "system"
    assert contexts["ctx-7f3a9c2e"][3].id == "ctx-7f3a9c2e:3"
    assert load_contexts(SAMPLE / "shared_contexts.jsonl", ["ctx-b81d44f0"]).keys() == {
        "ctx-b81d44f0"
    }


def test_option_and_label_parsing() -> None:
    assert parse_options("['(a) x', \"(b) it's\"]") == ("(a) x", "(b) it's")
    assert parse_options('["(a) x"]') == ("(a) x",)
    assert label_index("(c)") == 2 and label_index("d") == 3 and label_index("(a) text") == 0
    with pytest.raises(ValueError):
        label_index("none")
    with pytest.raises(ValueError):
        parse_options("{'a': 1}")


def test_visible_turns_stop_at_end_index(
    questions: list[PersonaMemQuestion], contexts: dict[str, list[EvalTurn]]
) -> None:
    q = questions[1]  # end index 7
    visible = visible_turns(q, contexts)
    assert [t.id for t in visible] == [f"ctx-7f3a9c2e:{i}" for i in range(7)]
    assert all("Chopin" not in t.content for t in visible)


class _Recorder(BM25Turns):
    """BM25 that remembers, at every retrieval, the highest context position it had seen."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__(roles=None)
        self.seen: dict[str, int] = {}
        self.at_retrieve: list[tuple[str, int, list[Retrieved]]] = []

    def reset(self, user_id: str) -> None:
        super().reset(user_id)
        self.seen[user_id] = 0

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        super().ingest(user_id, turns)
        self.seen[user_id] = max(
            self.seen[user_id], *(int(t.id.rsplit(":", 1)[1]) + 1 for t in turns)
        )

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        got = super().retrieve(user_id, query, k)
        self.at_retrieve.append((query, self.seen[user_id], got))
        return got


def test_no_future_leak(
    questions: list[PersonaMemQuestion],
    contexts: dict[str, list[EvalTurn]],
    chooser: RetrievalChooser,
) -> None:
    recorder = _Recorder()
    outcomes = run_personamem(questions, contexts, [recorder], chooser, k=20, progress=False)
    by_id = {q.question_id: q for q in questions}
    for outcome in outcomes:
        assert outcome.ingested == by_id[outcome.question_id].end_index
    # one retrieval per question, never with more of the context than its end index allows
    assert len(recorder.at_retrieve) == len(questions)
    ends = sorted((q.question, q.end_index) for q in questions)
    assert sorted((q, seen) for q, seen, _ in recorder.at_retrieve) == ends
    for _, seen, got in recorder.at_retrieve:
        for memory in got:
            assert all(int(i.rsplit(":", 1)[1]) < seen for i in memory.source_turn_ids)
        if seen < 12:
            assert not any("Zanzibar" in m.text for m in got)
    # the same question flips answer once the preference update is visible
    flip = {o.question_id: o for o in outcomes if o.question_id in ("q-a2", "q-a3")}
    assert flip["q-a2"].ingested == 7 and flip["q-a3"].ingested == 9


def test_end_to_end_accuracy(
    questions: list[PersonaMemQuestion],
    contexts: dict[str, list[EvalTurn]],
    chooser: RetrievalChooser,
    tmp_path: Path,
) -> None:
    dense = DenseTurns(chooser._encoder)
    systems: list[MemorySystem] = [BM25Turns(), dense, NoMemory()]
    outcomes = run_personamem(questions, contexts, systems, chooser, k=3, progress=False)
    summary = personamem_summary(outcomes)
    acc = {row["system"]: row["accuracy"] for row in summary["systems"]}
    assert acc["bm25"] > acc["none"] and acc["dense"] > acc["none"]
    assert acc["dense"] >= 0.75
    row = next(r for r in summary["systems"] if r["system"] == "dense")
    assert set(row["by_type"]) == {q.question_type for q in questions}
    paths = write_personamem_report(outcomes, tmp_path, {"k": 3})
    assert "recall_user_shared_facts" in paths["markdown"].read_text()
    assert paths["outcomes"].read_text().count("\n") == 3 * len(questions)


def test_chooser_uses_question_without_memories(chooser: RetrievalChooser) -> None:
    options = ["Bake a chocolate cake.", "Fix the bicycle chain.", "Plant tulips.", "Sing."]
    assert chooser.choose("How do I repair my bike chain?", options, []) == 1
    memories = [Retrieved("I love baking cakes with chocolate.", ["x:1"])]
    assert chooser.choose("What should I do this weekend?", options, memories) == 0
