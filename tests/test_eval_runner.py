"""The GraphMem adapter (against a fake API, no Neo4j), reports and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from graphmem.eval.baselines import BM25Turns, NoMemory
from graphmem.eval.cli import app
from graphmem.eval.prefeval import Form, LocateRule, PrefEvalItem
from graphmem.eval.protocol import EvalTurn, MemorySystem
from graphmem.eval.report import prefeval_markdown, prefeval_summary, write_prefeval_report
from graphmem.eval.runner import GraphMemSystem, PrefEvalOutcome, make_systems, run_prefeval
from graphmem.retrieval.config import RetrieverConfig, SearchConfig

SAMPLE = Path(__file__).parent / "data" / "personamem_sample"
DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/prefeval-dev"


class FakeGraphMem:
    """Keeps messages per user; search is keyword overlap; episodes are "ep:<message id>"."""

    def __init__(self, with_mapping: bool = True) -> None:
        self.users: dict[str, list[dict[str, str]]] = {}
        self.calls: list[tuple[str, Any]] = []
        if with_mapping:
            self.episode_message_ids = self._episode_message_ids

    def add(
        self, messages: list[dict[str, str]], *, user_id: str, session_id: str, **options: Any
    ) -> None:
        self.calls.append(("add", (user_id, session_id, len(messages))))
        self.calls.append(("add-options", options))
        self.users.setdefault(user_id, []).extend(messages)

    def search(self, query: str, *, user_id: str, limit: int, **options: Any) -> list[Any]:
        words = set(query.lower().split())
        scored = [
            (len(words & set(m["content"].lower().split())), m) for m in self.users.get(user_id, [])
        ]
        scored = [s for s in scored if s[0] > 0]
        scored.sort(key=lambda s: -s[0])
        return [
            SimpleNamespace(
                score=float(score),
                cube=SimpleNamespace(
                    payload=SimpleNamespace(content=m["content"]),
                    meta=SimpleNamespace(provenance=SimpleNamespace(episode_ids=["ep:" + m["id"]])),
                ),
            )
            for score, m in scored[:limit]
        ]

    def purge(self, *, user_id: str, actor: str) -> None:
        assert actor == f"user:{user_id}"  # only the user may purge its memory
        self.calls.append(("purge", (user_id, actor)))
        self.users.pop(user_id, None)

    def _episode_message_ids(self, episode_ids: list[str], *, actor: str) -> dict[str, str]:
        self.calls.append(("map", (tuple(episode_ids), actor)))
        return {e: e.removeprefix("ep:") for e in episode_ids if e != "ep:t3"}


def test_graphmem_adapter_maps_provenance_back_to_turn_ids() -> None:
    fake = FakeGraphMem()
    system = GraphMemSystem(mem=fake, batch_size=2, shared_prefix=None)
    assert isinstance(system, MemorySystem)
    system.reset("u1")
    turns = [
        EvalTurn("t0", "user", "I only drink green tea"),
        EvalTurn("t1", "assistant", "   "),
        EvalTurn("t2", "user", "my dog is called Rex"),
        EvalTurn("t3", "assistant", "nice dog"),
    ]
    system.ingest("u1", turns)
    stored = fake.users["u1"]
    assert [m["id"] for m in stored] == ["t0", "t2", "t3"]  # blank content skipped
    assert [c for c in fake.calls if c[0] == "add"] == [
        ("add", ("u1", "u1-session", 2)),
        ("add", ("u1", "u1-session", 1)),
    ]
    got = system.retrieve("u1", "what tea do I drink", 3)
    assert got[0].text == "I only drink green tea"
    assert got[0].source_turn_ids == ["t0"]
    got = system.retrieve("u1", "nice dog Rex", 3)
    assert [r.source_turn_ids for r in got] == [["t2"], ["ep:t3"]]  # unmapped stays an episode
    assert ("map", (("ep:t2", "ep:t3"), "user:u1")) in fake.calls
    system.reset("u1")
    assert system.retrieve("u1", "tea", 3) == []
    assert ("purge", ("u1", "user:u1")) in fake.calls


def test_graphmem_adapter_without_mapping_uses_episode_ids() -> None:
    fake = FakeGraphMem(with_mapping=False)
    system = GraphMemSystem(mem=fake, add_options={"infer": False}, name="graphmem-verbatim",
                            shared_prefix=None)
    system.ingest("u", [EvalTurn("a", "user", "tea please")])
    assert ("add-options", {"infer": False}) in fake.calls
    assert system.retrieve("u", "tea", 1)[0].source_turn_ids == ["ep:a"]


def _item(index: int, form: Form, topic: str) -> PrefEvalItem:
    turns = (EvalTurn(f"p{index}-0", "user", f"I love tea number {index}"),)
    return PrefEvalItem(
        topic,
        index,
        form,
        turns[0].content,
        "which tea should I drink",
        "",
        turns,
        frozenset({turns[0].id}),
        LocateRule.GIVEN,
    )


def test_run_with_graphmem_adapter_and_reports(tmp_path: Path) -> None:
    items = [_item(0, Form.EXPLICIT, "t1"), _item(1, Form.IMPLICIT_CHOICE, "t2")]
    inter = [
        EvalTurn(f"inter-{i}", r, f"chat about coffee {i}")
        for i, r in enumerate(["user", "assistant"] * 4)
    ]
    fake = FakeGraphMem()
    outcomes = run_prefeval(
        items,
        inter,
        [GraphMemSystem(mem=fake, shared_prefix=None), NoMemory()],
        settings=[0, 2, 4],
        k=3,
        progress=False,
        run_tag="t",
    )
    assert len(outcomes) == 2 * 2 * 3
    assert fake.users == {}  # cleaned up after each item
    graph = [o for o in outcomes if o.system == "graphmem"]
    assert all(o.first_hit_rank == 1 for o in graph)
    summary = prefeval_summary(outcomes, (1, 3))
    overall = {(r["system"], r["setting"]): r for r in summary["overall"]}
    assert overall[("graphmem", 4)]["recall@1"] == 1.0
    assert overall[("none", 4)]["mrr"] == 0.0
    assert {r["form"] for r in summary["by_form"]} == {"explicit", "implicit-choice"}
    assert len(summary["by_form_topic"]) == 2 * 3 * 2
    md = prefeval_markdown(summary)
    assert "## 4 distractor turns" in md and "| graphmem | 2 | 1.000 | 1.000 | 1.000 |" in md
    paths = write_prefeval_report(outcomes, tmp_path, (1, 3), {"note": "test"})
    assert json.loads(paths["summary"].read_text())["meta"] == {"note": "test"}
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = paths["outcomes"].read_text().splitlines()
    assert json.loads(lines[0])["first_hit_rank"] == 1


def test_outcome_first_hit_rank() -> None:
    o = PrefEvalOutcome("s", "explicit", "t", 0, 10, [False, True], [[], []], 0.0, 0.0)
    assert o.first_hit_rank == 2


def test_make_systems() -> None:
    systems = make_systems(["bm25", "none"], encoder=lambda: pytest.fail("not needed"))
    assert [type(s) for s in systems] == [BM25Turns, NoMemory]
    verbatim = make_systems(["graphmem-verbatim"], encoder=lambda: pytest.fail("not needed"))
    assert verbatim[0].name == "graphmem-verbatim"  # built lazily: no Neo4j connection yet
    with pytest.raises(ValueError, match="unknown system"):
        make_systems(["nope"], encoder=lambda: pytest.fail("not needed"))


def test_cli_help_and_personamem(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "prefeval" in result.output
    result = runner.invoke(app, ["prefeval", "--help"])
    assert result.exit_code == 0 and "--settings" in result.output
    result = runner.invoke(
        app,
        [
            "personamem",
            "--questions",
            str(SAMPLE / "questions.csv"),
            "--contexts",
            str(SAMPLE / "shared_contexts.jsonl"),
            "--systems",
            "none",
            "--limit",
            "3",
            "--out",
            str(tmp_path / "pm"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "pm" / "summary.json").read_text())
    assert summary["systems"][0]["n"] == 3


@pytest.mark.skipif(not DATA.is_dir(), reason="PrefEval dev split not present")
def test_cli_prefeval_small(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "prefeval",
            "--data",
            str(DATA),
            "--systems",
            "bm25,none",
            "--settings",
            "0,10",
            "--topics",
            "shop_motors",
            "--limit",
            "2",
            "--out",
            str(tmp_path),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["meta"]["items"] == 6
    assert {r["setting"] for r in summary["overall"]} == {0, 10}
    assert (tmp_path / "recall5_vs_turns.png").is_file()
    bad = CliRunner().invoke(app, ["prefeval", "--data", str(DATA), "--systems", "nope"])
    assert bad.exit_code != 0


def test_graphmem_adapter_shares_distractors_through_scopes_on_real_neo4j(
    mem: Any, uid: str
) -> None:
    """The shared-distractor adapter against the real store: a user sees its own turns plus
    exactly the distractors shown so far, and never another setting's scope."""
    bm25_only = SearchConfig(vector=RetrieverConfig(enabled=False),
                             graph_walk=RetrieverConfig(enabled=False),
                             preferences=RetrieverConfig(enabled=False))
    system = GraphMemSystem(mem=mem, name=f"gm{uid}", view_recipes=("vector",),
                            view_configs={"lexical": bm25_only})
    own = [EvalTurn(f"{uid}-0", "user", "I never eat mushrooms, I find them disgusting.")]
    inter = [EvalTurn(f"inter-{i}", "user" if i % 2 == 0 else "assistant",
                      f"Distractor {i}: how do I sort a list of tuples in Python?")
             for i in range(6)]
    system.ingest(uid, own)
    system.ingest(uid, inter[:2])
    first = system.retrieve(uid, "Any dinner ideas for me?", 5)
    assert first[0].source_turn_ids == [f"{uid}-0"]
    seen = {t for r in system.retrieve(uid, "sort a list of tuples in Python", 10)
            for t in r.source_turn_ids}
    assert seen == {f"{uid}-0", "inter-0"}  # inter-2 and inter-4 are not shown yet
    system.ingest(uid, inter[2:])
    seen = {t for r in system.retrieve(uid, "sort a list of tuples in Python", 10)
            for t in r.source_turn_ids}
    assert {"inter-0", "inter-2", "inter-4"} <= seen
    views = dict(system.views())
    assert list(views) == [f"gm{uid}", f"gm{uid}[vector]", f"gm{uid}[lexical]"]
    # A configured view really searches with its own config: keyword search cannot find the
    # mushroom turn from a question that shares no word with it, the vector view can.
    assert not views[f"gm{uid}[lexical]"](uid, "Any dinner ideas for me?", 5)
    assert views[f"gm{uid}[vector]"](uid, "Any dinner ideas for me?", 5)
    system.reset(uid)
