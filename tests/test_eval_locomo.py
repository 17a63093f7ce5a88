"""`graphmem eval locomo`: dates, the two-speaker ingestion, evidence, metrics and the command.

The fixture (tests/data/locomo_tiny.json) is hand-written in LoCoMo's shape: two short
sessions and a dateless third, a few questions including the file's known kinds of damage
(joined ids, "D:1:1", ids naming no turn, a category-5 question, a question whose only
evidence is "D").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver
from typer.testing import CliRunner

from graphmem.eval.cli import app
from graphmem.eval.locomo import (
    LocomoConversation,
    clean_evidence,
    load_conversations,
    speaker_memory,
)
from graphmem.eval.locomo_llm import LocomoLLM, dated_memories
from graphmem.eval.metrics import bleu1, token_f1
from graphmem.eval.protocol import EvalTurn, Retrieved
from graphmem.eval.report import locomo_markdown, locomo_summary
from graphmem.eval.runner import (
    GraphMemSystem,
    distinct_turns,
    make_systems,
    merge_by_score,
    run_locomo,
)
from graphmem.formats import locomo_datetime
from graphmem.llm import ChatResult
from graphmem.settings import Settings

TINY = Path(__file__).parent / "data" / "locomo_tiny.json"


@pytest.fixture
def conv() -> LocomoConversation:
    return load_conversations(TINY)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56)),
        ("10:04 am on 19 June, 2023", datetime(2023, 6, 19, 10, 4)),
        ("12:06 am on 11 November, 2022", datetime(2022, 11, 11, 0, 6)),
        ("12:30 pm on 1 January, 2024", datetime(2024, 1, 1, 12, 30)),
        (" 9:00 am on 1 July, 2023 ", datetime(2023, 7, 1, 9, 0)),
        ("yesterday at noon", None),
        ("", None),
        (None, None),
    ],
)
def test_session_dates(text: str | None, expected: datetime | None) -> None:
    assert locomo_datetime(text) == expected


def test_each_speaker_gets_the_conversation_as_their_own_memory(conv: LocomoConversation) -> None:
    assert conv.speakers == ("Ada", "Bram")
    ada, bram = speaker_memory(conv, "Ada"), speaker_memory(conv, "Bram")
    ids = ["D1:1", "D1:2", "D1:3", "D1:4", "D2:1", "D2:2", "D2:3", "D2:4"]
    assert [t.id for t in ada] == ids == [t.id for t in bram]
    speakers = ["Ada", "Bram", "Ada", "Bram", "Bram", "Ada", "Bram", "Ada"]
    assert [t.role for t in ada] == ["user" if s == "Ada" else "assistant" for s in speakers]
    assert [t.role for t in bram] == ["user" if s == "Bram" else "assistant" for s in speakers]
    assert [t.content.split(":")[0] for t in ada] == speakers
    assert ada[0].content == bram[0].content == (
        "Ada: Hi Bram! I adopted a grey kitten called Pixel last weekend."
    )
    # The image caption is not part of the turn (as in MemOS's and Mem0's scripts).
    assert ada[3].content == "Bram: Nice, send me a photo of your first bowl."
    first, second = datetime(2023, 5, 8, 13, 56), datetime(2023, 6, 19, 10, 4)
    assert [t.timestamp for t in ada] == [first] * 4 + [second] * 4
    assert [t.session for t in bram] == ["s1"] * 4 + ["s2"] * 4
    with pytest.raises(ValueError):
        speaker_memory(conv, "Carol")


def test_questions_skip_adversarial_and_clean_evidence(conv: LocomoConversation) -> None:
    assert [q.index for q in conv.questions] == [0, 1, 2, 3, 4]
    assert [q.category_name for q in conv.questions] == [
        "single-hop", "single-hop", "temporal", "multi-hop", "open-domain",
    ]
    assert conv.questions[3].evidence == {"D1:3", "D2:2", "D1:1"}
    assert conv.skipped_no_evidence == 1  # "What colour is the boat?" names only "D"
    assert sorted(conv.dropped_evidence_ids) == ["D", "D9:9"]
    assert clean_evidence(["D2:2", " D2:2 ", "d1:1"], ["D2:2", "D1:1"]) == (["D2:2"], ["d1:1"])


def test_selecting_conversations() -> None:
    assert [c.sample_id for c in load_conversations(TINY, ["0"])] == ["tiny-1"]
    assert [c.sample_id for c in load_conversations(TINY, ["tiny-1"], limit=1)] == ["tiny-1"]
    with pytest.raises(ValueError, match="no conversation"):
        load_conversations(TINY, ["3"])


def test_merge_and_recall_by_hand() -> None:
    """Ada's memory returns D1:3 (0.9) and a cube from D2:2+D1:3 (0.5); Bram's D1:2 (0.7).
    Merged: D1:3, D1:2, D2:2. Evidence {D2:2, D1:1}: R@1 = 0, R@3 = 1/2, MRR = 1/3."""
    ada = [Retrieved("a", ["D1:3"], 0.9), Retrieved("b", ["D2:2", "D1:3"], 0.5)]
    bram = [Retrieved("c", ["D1:2"], 0.7)]
    merged = merge_by_score(ada, bram)
    assert [m.text for m in merged] == ["a", "c", "b"]
    assert distinct_turns(merged, 10) == ["D1:3", "D1:2", "D2:2"]
    assert distinct_turns(merged, 2) == ["D1:3", "D1:2"]
    outcome = _scripted_run({"What hobbies does Ada have?": (ada, bram)})[0]
    assert outcome.evidence == ["D1:1", "D1:3", "D2:2"]  # question 3's cleaned evidence
    # Against the three evidence turns: D1:3 at rank 1, D2:2 at rank 3.
    assert outcome.recall == {1: pytest.approx(1 / 3), 3: pytest.approx(2 / 3),
                              5: pytest.approx(2 / 3), 10: pytest.approx(2 / 3)}
    assert outcome.mrr == 1.0


class ScriptedSystem:
    """Returns fixed hits per (speaker letter, question) and records what it was given."""

    name = "scripted"

    def __init__(self, answers: dict[str, tuple[list[Retrieved], list[Retrieved]]]) -> None:
        self.answers = answers
        self.ingested: dict[str, list[EvalTurn]] = {}
        self.resets: list[str] = []

    def reset(self, user_id: str) -> None:
        self.resets.append(user_id)
        self.ingested.pop(user_id, None)

    def ingest(self, user_id: str, turns: Sequence[EvalTurn]) -> None:
        self.ingested.setdefault(user_id, []).extend(turns)

    def retrieve(self, user_id: str, query: str, k: int) -> list[Retrieved]:
        assert user_id in self.ingested, "asked before ingesting"
        pair = self.answers.get(query, ([], []))
        return pair[0] if "-a-" in user_id else pair[1]


def _scripted_run(answers: dict[str, tuple[list[Retrieved], list[Retrieved]]]) -> list[Any]:
    conv = load_conversations(TINY)[0]
    system = ScriptedSystem(answers)
    outcomes = run_locomo([conv], [system], progress=False, run_tag="t")
    by_question = {o.question: o for o in outcomes}
    return [by_question[q] for q in answers]


def test_run_asks_both_speakers_and_cleans_up(conv: LocomoConversation) -> None:
    system = ScriptedSystem({})
    outcomes = run_locomo([conv], [system], progress=False, run_tag="t", cleanup=False)
    assert sorted(system.ingested) == ["locomo-t-tiny-1-a-Ada", "locomo-t-tiny-1-b-Bram"]
    bram = system.ingested["locomo-t-tiny-1-b-Bram"]
    assert [t.role for t in bram] == [t.role for t in speaker_memory(conv, "Bram")]
    assert system.ingested["locomo-t-tiny-1-a-Ada"] == speaker_memory(conv, "Ada")
    assert len(outcomes) == 5 and all(o.recall[10] == 0.0 for o in outcomes)
    run_locomo([conv], [system], progress=False, run_tag="t")
    assert system.ingested == {}  # reset after the conversation


def test_all_roles_baseline_indexes_the_other_speaker(conv: LocomoConversation) -> None:
    user_only, all_roles = make_systems(["bm25", "bm25-all-roles"],
                                        encoder=lambda: pytest.fail("not needed"))
    assert all_roles.name == "bm25-all-roles"
    for system in (user_only, all_roles):
        system.ingest("ada", speaker_memory(conv, "Ada"))
    # Bram's turn is an assistant turn in Ada's memory.
    assert [r.source_turn_ids for r in all_roles.retrieve("ada", "sailing boat Maas", 1)] == [
        ["D2:1"]]
    assert all("D2:1" not in r.source_turn_ids
               for r in user_only.retrieve("ada", "sailing boat Maas", 10))


class KeepingSystem(ScriptedSystem):
    """A scripted system whose memory outlives a run, like GraphMem's graph."""

    def holds(self, user_id: str) -> bool:
        return user_id in self.ingested


def test_reuse_searches_a_kept_ingestion_without_ingesting_again(
    conv: LocomoConversation,
) -> None:
    system = KeepingSystem({})
    run_locomo([conv], [system], progress=False, run_tag="t", cleanup=False)
    first = {u: list(t) for u, t in system.ingested.items()}
    system.resets.clear()
    outcomes = run_locomo([conv], [system], progress=False, run_tag="t", cleanup=False,
                          reuse=True)
    assert system.resets == [] and system.ingested == first and len(outcomes) == 5
    run_locomo([conv], [system], progress=False, run_tag="other", cleanup=False, reuse=True)
    assert len(system.ingested) == 4  # another tag names other memories: ingested


def test_answer_scores_by_hand() -> None:
    assert token_f1("the Maas river", "the Maas") == pytest.approx(2 / 3)
    assert token_f1("Rotterdam", "the Maas") == 0.0
    assert bleu1("Maas", "the Maas") == 1.0
    assert bleu1("Maas river", "Maas") == 0.5
    assert bleu1("Pixel", "Pixel the kitten") == pytest.approx(0.36787944, rel=1e-6)
    assert bleu1("", "Pixel") == 0.0


class FakeChat:
    """A chat endpoint that answers "Pixel" and judges "Pixel" right and anything else wrong."""

    model = "fake"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def complete(self, messages: Sequence[dict[str, str]], **_: Any) -> ChatResult:
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        if prompt.startswith("You grade"):
            right = "Generated answer: Pixel" in prompt and "Gold answer: Pixel" in prompt
            text = "Same name.\nAnswer: Yes" if right else "Different.\nAnswer: No"
        else:
            text = "Pixel"
        return ChatResult(text=text, tokens_in=1, tokens_out=1)

    def close(self) -> None:
        return None


def test_llm_answers_are_scored(conv: LocomoConversation) -> None:
    chat = FakeChat()
    hits = [Retrieved("Ada: I adopted a grey kitten called Pixel", ["D1:1"], 1.0)]
    system = ScriptedSystem({q.question: (hits, []) for q in conv.questions})
    outcomes = run_locomo([conv], [system], llm=LocomoLLM(chat), progress=False)  # type: ignore[arg-type]
    kitten = next(o for o in outcomes if o.question_index == 0)
    assert (kitten.answer, kitten.gold, kitten.f1, kitten.bleu1, kitten.judge) == (
        "Pixel", "Pixel", 1.0, 1.0, True)
    assert sum(bool(o.judge) for o in outcomes) == 1
    assert "1. [08 May 2023] Ada: I adopted a grey kitten called Pixel" in chat.prompts[0]
    summary = locomo_summary(outcomes, [1, 10])
    assert summary["overall"][0]["judge"] == pytest.approx(1 / 5)
    assert "| scripted | 5 |" in locomo_markdown(summary).split("## Generated answers")[1]
    assert dated_memories([], {}) == "(none)"


def test_cli_baselines_without_neo4j(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["locomo", "--data", str(TINY), "--systems", "bm25,dense", "--no-llm", "--k", "1,3",
         "--out", str(tmp_path), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "skipped: no llm endpoint configured" in result.output.replace("\n", " ").lower()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["meta"]["questions"] == 5 and summary["meta"]["skipped_no_evidence"] == 1
    assert [r["system"] for r in summary["overall"]] == ["bm25", "dense"]
    bm25 = summary["overall"][0]
    assert 0.0 < bm25["recall@1"] <= bm25["recall@3"] <= 1.0
    assert {r["category_name"] for r in summary["by_category"]} == {
        "multi-hop", "temporal", "open-domain", "single-hop"}
    assert (tmp_path / "recall3_by_category.png").stat().st_size > 0
    assert "skipped" in (tmp_path / "report.md").read_text().lower()
    bad = CliRunner().invoke(app, ["locomo", "--data", str(TINY), "--conversations", "7"])
    assert bad.exit_code != 0
    no_tag = CliRunner().invoke(app, ["locomo", "--data", str(TINY), "--systems", "bm25",
                                      "--reuse"])
    assert no_tag.exit_code != 0 and "--run-tag" in no_tag.output
    views = tmp_path / "views.json"
    views.write_text(json.dumps({"x": {"fulltext": {"weight": -1}}}))
    bad_view = CliRunner().invoke(app, ["locomo", "--data", str(TINY), "--systems", "bm25",
                                        "--views", str(views)])
    assert bad_view.exit_code != 0


def test_graphmem_adapter_keeps_dates_sessions_and_dia_ids(
    mem: Any, uid: str, conv: LocomoConversation, driver: Driver, neo4j_settings: Settings
) -> None:
    system = GraphMemSystem(mem=mem)
    system.ingest(uid, speaker_memory(conv, "Ada"))
    records, _, _ = driver.execute_query(
        "MATCH (e:Episode {owner: $u}) RETURN e.msg_id AS id, e.role AS role, "
        "e.session_id AS session, e.ts AS ts ORDER BY e.session_id, e.seq",
        u=uid, database_=neo4j_settings.neo4j_database,
    )
    assert [r["id"] for r in records] == [t.id for t in speaker_memory(conv, "Ada")]
    assert {r["session"] for r in records} == {f"{uid}-session-s1", f"{uid}-session-s2"}
    assert records[0]["role"] == "user" and records[1]["role"] == "assistant"
    assert records[0]["ts"].to_native().replace(tzinfo=None) == datetime(2023, 5, 8, 13, 56)
    hits = system.retrieve(uid, "Ada kitten Pixel", 5)
    assert "D1:1" in distinct_turns(hits, 5)
    system.reset(uid)


def test_cli_end_to_end_on_real_neo4j(
    tmp_path: Path, neo4j_settings: Settings, driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHMEM_NEO4J_URI", neo4j_settings.neo4j_uri)
    monkeypatch.setenv("GRAPHMEM_NEO4J_USER", neo4j_settings.neo4j_user)
    monkeypatch.setenv("GRAPHMEM_NEO4J_PASSWORD",
                       neo4j_settings.neo4j_password.get_secret_value())
    monkeypatch.setenv("GRAPHMEM_NEO4J_DATABASE", neo4j_settings.neo4j_database)
    result = CliRunner().invoke(
        app,
        ["locomo", "--data", str(TINY), "--systems", "graphmem,bm25", "--no-llm",
         "--out", str(tmp_path), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["system"] for r in summary["overall"]] == ["graphmem", "bm25"]
    rows = [json.loads(line) for line in (tmp_path / "outcomes.jsonl").read_text().splitlines()]
    graph_rows = [r for r in rows if r["system"] == "graphmem"]
    assert len(graph_rows) == 5
    dia_ids = {t.id for t in speaker_memory(load_conversations(TINY)[0], "Ada")}
    # Provenance maps every hit back to a dia_id of the conversation, never an episode id.
    ranked = {t for r in graph_rows for t in r["ranked_turns"]}
    assert ranked and ranked <= dia_ids
    kitten = next(r for r in graph_rows if r["question_index"] == 0)
    assert "D1:1" in kitten["ranked_turns"]
    assert summary["overall"][0]["recall@10"] > 0.0
    records, _, _ = driver.execute_query(
        "MATCH (e:Episode) WHERE e.owner STARTS WITH $prefix RETURN count(e) AS n",
        prefix=f"locomo-{summary['meta']['run_tag']}-", database_=neo4j_settings.neo4j_database,
    )
    assert records[0]["n"] == 0  # both speakers' memories purged after the run


def test_cli_keeps_reuses_and_answers_with_views_on_real_neo4j(
    tmp_path: Path, neo4j_settings: Settings, driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHMEM_NEO4J_URI", neo4j_settings.neo4j_uri)
    monkeypatch.setenv("GRAPHMEM_NEO4J_USER", neo4j_settings.neo4j_user)
    monkeypatch.setenv("GRAPHMEM_NEO4J_PASSWORD",
                       neo4j_settings.neo4j_password.get_secret_value())
    monkeypatch.setenv("GRAPHMEM_NEO4J_DATABASE", neo4j_settings.neo4j_database)
    views = tmp_path / "views.json"
    views.write_text(json.dumps({"vector": {"fulltext": {"enabled": False},
                                            "graph_walk": {"enabled": False}}}))
    tag = f"keep{tmp_path.name[-6:]}"
    prefix = f"locomo-{tag}-"

    def episodes() -> int:
        records, _, _ = driver.execute_query(
            "MATCH (e:Episode) WHERE e.owner STARTS WITH $prefix RETURN count(e) AS n",
            prefix=prefix, database_=neo4j_settings.neo4j_database)
        return int(records[0]["n"])

    def run(*extra: str) -> dict[str, Any]:
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        result = CliRunner().invoke(
            app, ["locomo", "--data", str(TINY), "--systems", "graphmem", "--no-llm", "--quiet",
                  "--run-tag", tag, "--views", str(views), "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
        return summary

    try:
        first = run("--keep")
        kept = episodes()
        assert kept > 0
        again = run("--reuse")
        assert episodes() == kept and again["meta"]["reused_ingestion"] is True
        assert [r["system"] for r in again["overall"]] == ["graphmem", "graphmem[vector]"]
        assert again["overall"] == [
            {**r, "ingest_s": again["overall"][i]["ingest_s"],
             "retrieve_s": again["overall"][i]["retrieve_s"]}
            for i, r in enumerate(first["overall"])]
    finally:
        run()  # without --keep the memories are purged at the end
    assert episodes() == 0
