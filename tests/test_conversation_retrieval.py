"""Retrieval of what people said in conversations: a reply found through the turns around it,
a question that names the reader read in the first person, a question naming a speaker
answered by that speaker's turns first, and the demo's four questions (real Neo4j)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.demo import load_demo_conversation
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.ingest import turn_search_texts
from graphmem.retrieval import SearchConfig
from graphmem.retrieval.intent import as_first_person, categories_called_for, named_in
from graphmem.settings import Settings
from graphmem.store.protocol import EpisodeRow


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _row(i: int, content: str, role: str = "user") -> EpisodeRow:
    return EpisodeRow(id=f"e{i}", owner="u", role=role, content=content, seq=i)


def test_turn_search_text_is_the_turn_between_its_neighbours() -> None:
    rows = [_row(0, "What did you research?", "assistant"), _row(1, "Adoption agencies."),
            _row(2, "x " * 400, "assistant")]
    texts = turn_search_texts(rows, previous="Earlier turn.")
    assert texts["e0"] == "Earlier turn.\nWhat did you research?\nAdoption agencies."
    assert texts["e1"].startswith("What did you research?\nAdoption agencies.\nx x")
    assert len(texts["e1"]) < 200  # a long neighbour is clipped, the turn itself never
    assert texts["e2"].startswith("Adoption agencies.\n" + "x " * 10)


def test_names_in_a_query_become_the_first_person() -> None:
    assert as_first_person("What did Caroline research?", ["caroline"]) == "What did I research?"
    assert as_first_person("Where does Maya live?", ["maya"]) == "Where do I live?"
    assert as_first_person("What did Mel give Caroline?", ["Caroline"]) == "What did Mel give me?"
    assert as_first_person("Is Maya's dog ok?", ["maya"]) == "Is my dog ok?"
    assert as_first_person("Who is Tom?", ["maya"]) is None
    assert as_first_person("What does Mayan food taste like?", ["maya"]) is None
    assert named_in("What did Caroline's sister say?", {"caroline", "mel"}) == {"caroline"}


def test_what_a_question_calls_for() -> None:
    assert categories_called_for("Any restaurant ideas for tonight?") == {"diet", "allergy"}
    assert categories_called_for("What is Maya training for?") == {"goal"}
    assert categories_called_for("Which seat should I book?") == frozenset()


def test_a_reply_is_found_through_the_question_it_answers(mem: GraphMem) -> None:
    """"Adoption agencies." shares no word with the question; its neighbour does. The reply
    arrives in a later `add` call than the question, as in a live chat."""
    uid = _uid("ctx")
    mem.add([{"role": "assistant", "content": "Which organisations did you research for the "
              "kids project?"}], user_id=uid, session_id="s1", infer=False)
    mem.add([{"role": "user", "content": "Adoption agencies, mostly."},
             {"role": "assistant", "content": "Nice, good luck with it."}],
            user_id=uid, session_id="s1", infer=False)
    mem.add([{"role": "user", "content": "I bought a blue bicycle."}], user_id=uid,
            session_id="s2", infer=False)
    hits = mem.search("which organisations for the kids project", user_id=uid, recipe="bm25")
    assert hits and hits[0].cube.text == "Adoption agencies, mostly."


def test_a_stored_turn_learns_the_reply_it_got(mem: GraphMem, driver: Driver) -> None:
    uid = _uid("tail")
    mem.add([{"role": "user", "content": "Guess what I found in the attic."}], user_id=uid,
            session_id="s1", infer=False)
    mem.add([{"role": "assistant", "content": "A treasure map?"}], user_id=uid,
            session_id="s1", infer=False)
    hits = mem.search("treasure map", user_id=uid, recipe="bm25")
    assert [h.cube.text for h in hits] == ["Guess what I found in the attic."]
    with driver.session() as s:
        chained = s.run("MATCH (a:Episode {owner: $u})-[:NEXT]->(b:Episode {owner: $u}) "
                        "RETURN a.content AS a, b.content AS b", u=uid).data()
    assert chained == [{"a": "Guess what I found in the attic.", "b": "A treasure map?"}]


def test_a_question_naming_a_speaker_finds_their_own_turns_first(mem: GraphMem) -> None:
    """Both speakers said something about painting; the one the question names comes first,
    in a scope both write to, whatever the order of the writes."""
    a, b = _uid("caroline"), _uid("melanie")
    team = mem.create_shared_scope(_uid("team"), actor=f"user:{a}")
    mem.grant(team, f"user:{b}", actor=f"user:{a}", read=True, write=True)
    when = datetime(2023, 5, 8, tzinfo=UTC)
    mem.add([{"role": "user", "name": "Melanie", "content": "I painted a lake sunrise.",
              "timestamp": when.isoformat()}], user_id=b, scope=team, infer=False)
    mem.add([{"role": "user", "name": "Caroline", "content": "I painted my first portrait.",
              "timestamp": when.isoformat()}], user_id=a, scope=team, infer=False)
    for name, expected in (("Caroline", "I painted my first portrait."),
                           ("Melanie", "I painted a lake sunrise.")):
        hits = mem.search(f"What did {name} paint?", user_id=a)
        assert hits[0].cube.text == expected, [h.cube.text for h in hits]


def test_a_question_naming_the_reader_is_read_in_the_first_person(mem: GraphMem) -> None:
    uid = _uid("maya")
    mem.add([{"role": "user", "name": "Maya", "content": "I live in Porto since March 2025."},
             {"role": "user", "name": "Maya", "content": "We love walking tours."}],
            user_id=uid, infer=False)
    plain = mem.search("Where does Maya live?", user_id=uid,
                       config=SearchConfig(resolve_reader_names=False))
    resolved = mem.search("Where does Maya live?", user_id=uid)
    assert resolved[0].cube.text == "I live in Porto since March 2025."
    gap = {h.cube.text: h.scores["vector"] for h in resolved}
    base = {h.cube.text: h.scores["vector"] for h in plain}
    assert gap["I live in Porto since March 2025."] > base["I live in Porto since March 2025."]


DEMO_ANSWERS = {
    "What should I keep in mind when suggesting a restaurant for Maya?":
        ("allergic to peanuts", "pescatarian"),
    "Which seat should I book for Maya's next flight?": ("window seats",),
    "What is Maya training for?": ("half marathon",),
    "Where does Maya live?": ("Porto",),
}


@pytest.fixture(scope="module")
def demo_memory(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder
                ) -> Iterator[tuple[GraphMem, str]]:
    convo = load_demo_conversation()
    uid = _uid("maya")
    with GraphMem(neo4j_settings, embedder=embedder) as m:
        for session in convo["sessions"]:
            m.add(session["messages"], user_id=uid, session_id=session["session_id"])
        yield m, uid
        m.purge(user_id=uid, actor=f"user:{uid}")


@pytest.mark.parametrize("question", list(DEMO_ANSWERS))
def test_demo_questions_get_the_right_memory_first(
        demo_memory: tuple[GraphMem, str], question: str) -> None:
    mem, uid = demo_memory
    hits = mem.search(question, user_id=uid, limit=3)
    assert any(a in hits[0].cube.text for a in DEMO_ANSWERS[question]), \
        [h.cube.text for h in hits]


def test_bulk_ingest_gives_turns_the_same_neighbours_as_add(mem: GraphMem, driver: Driver
                                                            ) -> None:
    """Two parts of one session in one add_many call: the second part's first turn is the
    reply to the first part's last, as when each part is added on its own."""
    bulk, single = _uid("bulk"), _uid("single")
    parts = [[{"role": "user", "content": "Guess what I found in the attic."}],
             [{"role": "assistant", "content": "A treasure map?"},
              {"role": "user", "content": "Yes, an old one."}]]
    mem.add_many([{"messages": p, "user_id": bulk, "session_id": "s1"} for p in parts],
                 infer=False)
    for p in parts:
        mem.add(p, user_id=single, session_id="s1", infer=False)

    def texts(uid: str) -> list[tuple[str, str]]:
        with driver.session() as s:
            return [(r["t"], r["s"]) for r in s.run(
                "MATCH (c:MemCube {owner: $u, current: true}) RETURN c.text AS t, "
                "c.search_text AS s ORDER BY t", u=uid)]

    assert texts(bulk) == texts(single)
    assert ("Guess what I found in the attic.",
            "Guess what I found in the attic.\nA treasure map?") in texts(bulk)
