"""PrefEval loaders on the real dev split: counts, shapes, labels and the distractor sequence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from graphmem.eval.prefeval import (
    EXPLICIT_ACK,
    Form,
    LocateRule,
    PrefEvalItem,
    conversation,
    distractors,
    load_inter_turns,
    load_items,
    locate_preference_turns,
    topics,
)
from graphmem.eval.protocol import EvalTurn, Retrieved

DATA = Path(__file__).resolve().parents[1].parent / "shared/datasets/prefeval-dev"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="PrefEval dev split not present")

PER_TOPIC = {
    "education_learning_styles": 31,
    "entertain_games": 51,
    "entertain_shows": 62,
    "lifestyle_beauty": 53,
    "lifestyle_fit": 52,
    "pet_ownership": 43,
    "shop_fashion": 54,
    "shop_motors": 45,
    "travel_activities": 58,
    "travel_transportation": 46,
}


@pytest.fixture(scope="module")
def items() -> list[PrefEvalItem]:
    return load_items(DATA)


@pytest.fixture(scope="module")
def inter() -> list[EvalTurn]:
    return load_inter_turns(DATA)


def test_topics_and_counts(items: list[PrefEvalItem]) -> None:
    assert topics(DATA) == sorted(PER_TOPIC)
    counts = Counter((i.form, i.topic) for i in items)
    for form in Form:
        for topic, n in PER_TOPIC.items():
            assert counts[(form, topic)] == n
    assert len(items) == 3 * sum(PER_TOPIC.values()) == 3 * 495


def test_item_shapes(items: list[PrefEvalItem]) -> None:
    for item in items:
        roles = [t.role for t in item.turns]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        assert item.relevant_turn_ids <= {t.id for t in item.turns}
        assert item.relevant_turn_ids
        assert len(item.mcq_options) == 4
        if item.form is Form.EXPLICIT:
            assert [t.content for t in item.turns] == [item.preference, EXPLICIT_ACK]
            assert item.relevant_turn_ids == {item.turns[0].id}
        elif item.form is Form.IMPLICIT_CHOICE:
            assert len(item.turns) == 4 and len(item.relevant_turn_ids) == 4
        else:
            assert 6 <= len(item.turns) <= 14
            relevant = [t for t in item.turns if t.id in item.relevant_turn_ids]
            assert all(t.role == "user" for t in relevant)
    all_ids = [t.id for i in items for t in i.turns]
    assert len(all_ids) == len(set(all_ids))


def test_persona_locator_rules(items: list[PrefEvalItem]) -> None:
    rules = Counter(i.locate_rule for i in items if i.form is Form.IMPLICIT_PERSONA)
    assert rules[LocateRule.SUBSTRING] == 46
    assert rules[LocateRule.WHOLE_CHAT] <= 10
    single = [i for i in items if i.form is Form.IMPLICIT_PERSONA and len(i.relevant_turn_ids) == 1]
    assert len(single) >= 480


def test_locator_prefers_the_paraphrase() -> None:
    turns = [
        "Hi! Any tips for overcoming creative blocks?",
        "I usually prefer to work in short bursts, like how I watch movies under two hours.",
        "Do you have ergonomic desk recommendations?",
    ]
    found, rule = locate_preference_turns(
        "I strongly prefer not to watch shows or movies that are more than two hours long.", turns
    )
    assert (found, rule) == ([1], LocateRule.OVERLAP)
    assert locate_preference_turns("I hate heights.", turns) == ([0, 1, 2], LocateRule.WHOLE_CHAT)


def test_distractor_lengths(inter: list[EvalTurn]) -> None:
    assert len(inter) == 632
    for n in (0, 10, 70, 300):
        chunk = distractors(inter, n)
        assert len(chunk) == 2 * n
        assert [t.role for t in chunk] == ["user", "assistant"] * n
        assert chunk == inter[: 2 * n]
    assert distractors(inter, 316) == inter
    with pytest.raises(ValueError):
        distractors(inter, 317)


def test_conversation_order(items: list[PrefEvalItem], inter: list[EvalTurn]) -> None:
    item = next(i for i in items if i.form is Form.IMPLICIT_CHOICE)
    seq = conversation(item, inter, 10)
    assert seq[:4] == list(item.turns)
    assert seq[4:] == inter[:20]
    assert item.question not in {t.content for t in seq}


def test_mcq_shuffle_is_stable_and_tracks_the_aligned_option(items: list[PrefEvalItem]) -> None:
    item = items[0]
    options, correct = item.mcq()
    assert options[correct] == item.mcq_options[0]
    assert item.mcq() == (options, correct)
    assert sorted(options) == sorted(item.mcq_options)
    positions = Counter(i.mcq()[1] for i in items[:200])
    assert len(positions) == 4


def test_hit_by_provenance_or_text(items: list[PrefEvalItem]) -> None:
    item = next(i for i in items if i.form is Form.EXPLICIT)
    assert item.is_hit(Retrieved("anything", [item.turns[0].id]))
    assert not item.is_hit(Retrieved("anything", [item.turns[1].id]))
    assert item.is_hit(Retrieved(f"Earlier: {item.preference.upper()} ok?", []))
    assert not item.is_hit(Retrieved("The user likes travelling.", ["inter-3"]))
