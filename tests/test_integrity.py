"""Integrity and isolation: each defect found by hostile testing, as a regression test against
the real Neo4j (issue 8). Test names carry the item number."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from neo4j import Driver

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.errors import (
    Conflict,
    GraphMemError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    StoreUnavailable,
)
from graphmem.extractors.base import Extractor
from graphmem.settings import Settings
from graphmem.store.queries import Queries
from tests.conftest import count_user_nodes

QUERIES = Queries()


@pytest.fixture(scope="module")
def extractor(neo4j_settings: Settings) -> Extractor:
    """One offline extractor for the module (loading spaCy per GraphMem would dominate)."""
    from graphmem.extractors.factory import build_extractor

    return build_extractor(neo4j_settings)


@pytest.fixture
def make_mem(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder,
             extractor: Extractor) -> Iterator[Callable[[], GraphMem]]:
    made: list[GraphMem] = []

    def make() -> GraphMem:
        m = GraphMem(neo4j_settings, embedder=embedder, extractor=extractor, apply_schema=False)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


def live_cubes(driver: Driver, owner: str) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(
        "MATCH (c:MemCube {owner: $o}) WHERE c.current AND c.status IN ['generated','activated'] "
        "RETURN c.id AS id, c.content_hash AS hash, c.kind AS kind", o=owner)
    return [dict(r) for r in records]


# --- 1, 2: dedup, also under concurrency -------------------------------------------------------


def test_1_remember_and_add_do_not_store_duplicates(mem: GraphMem, uid: str,
                                                    driver: Driver) -> None:
    first = mem.remember("teal is my colour", user_id=uid)
    again = [mem.remember("teal is my colour", user_id=uid) for _ in range(2)]
    assert {c.id for c in again} == {first.id}
    results = [mem.add("I work at Bosch in Stuttgart.", user_id=uid, session_id=f"s{i}")
               for i in range(3)]
    assert results[0].skipped_duplicates == 0 and results[0].cubes
    assert all(r.skipped_duplicates == len(results[0].cubes) for r in results[1:])
    assert all(not r.cubes for r in results[1:])
    cubes = live_cubes(driver, uid)
    assert len(cubes) == len({c["hash"] for c in cubes}) == 1 + len(results[0].cubes)
    # The duplicate keeps every turn that said it as provenance (the fact restates the whole
    # turn, so it stands in for the turn's raw cube: graphmem.ingestion._fold_restated_turns).
    (fact,) = results[0].cubes
    assert fact.meta.kind.value == "fact"
    assert len(mem.get(fact.id, actor=f"user:{uid}").meta.provenance.episode_ids) == 3


def test_1_dedup_respects_lifecycle(mem: GraphMem, uid: str) -> None:
    cube = mem.remember("I collect stamps.", user_id=uid)
    mem.delete(cube.id, actor=f"user:{uid}")
    fresh = mem.remember("I collect stamps.", user_id=uid)
    assert fresh.id != cube.id, "an archived cube does not absorb a new memory"
    restored = mem.restore(cube.id, actor=f"user:{uid}")
    assert restored.meta.status.value == "generated"
    assert mem.remember("I collect stamps.", user_id=uid).id == fresh.id
    updated = mem.update(fresh.id, "I collect coins.", actor=f"user:{uid}")
    assert mem.remember("I collect coins.", user_id=uid).id == updated.id


def test_2_concurrent_adds_store_each_cube_once(make_mem: Callable[[], GraphMem], uid: str,
                                               driver: Driver) -> None:
    messages = [{"role": "user", "content": text, "id": f"m{i}"} for i, text in enumerate([
        "I moved to Porto in March 2025.", "I'm allergic to peanuts.",
        "My sister Ana is a nurse.", "I prefer window seats on long flights.",
        "I run every morning before work."])]
    shared = make_mem()
    instances = [shared] * 4 + [make_mem() for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(instances))

    def add(m: GraphMem) -> None:
        try:
            barrier.wait()
            m.add(messages, user_id=uid, session_id="s")
            barrier.wait()
            m.remember("teal is my colour", user_id=uid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(m,)) for m in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    cubes = live_cubes(driver, uid)
    assert len(cubes) == len({c["hash"] for c in cubes}), "two live cubes with one content"
    reference = make_mem().add(messages, user_id=f"{uid}ref", session_id="s")
    assert len(cubes) == len(reference.cubes) + 1
    assert count_user_nodes(driver, uid)["episodes"] == 5


# --- 3, 4, 7, 12: erasure ---------------------------------------------------------------------


def test_3_purge_erases_exactly_one_principal(mem: GraphMem, uid: str, driver: Driver) -> None:
    mem.remember("User-owned note.", user_id=uid)
    agent_note = mem.remember("The agent's own note.", actor=f"agent:{uid}")
    group_scope = mem.create_group(uid, actor=f"user:{uid}x")
    group_note = mem.remember("The group's note.", actor=f"user:{uid}x", scope=group_scope)
    counts = mem.purge(user_id=uid, actor=f"user:{uid}")
    assert counts.cubes == 1
    assert mem.get(agent_note.id, actor=f"agent:{uid}").text == "The agent's own note."
    assert mem.get(group_note.id, actor=f"user:{uid}x").text == "The group's note."
    assert count_user_nodes(driver, uid)["principals"] == 0


def orphans(driver: Driver, owner: str) -> int:
    records, _, _ = driver.execute_query(
        "MATCH (n) WHERE (n:MemCube OR n:Episode OR n:Entity) AND n.owner = $o "
        "AND NOT EXISTS { (n)-[:IN_SCOPE]->(:Scope) } RETURN count(n) AS n", o=owner)
    return int(records[0]["n"])


def _add_until(stop: threading.Event, m: GraphMem, n: int, user: str,
               unexpected: list[BaseException]) -> None:
    i = 0
    while not stop.is_set():
        try:
            m.add(f"Note {n}-{i}: I visited place number {i}.", user_id=user, infer=False)
        except GraphMemError:
            pass  # a clear error is an allowed outcome of racing an erasure
        except BaseException as exc:  # the defect: raw driver errors
            unexpected.append(exc)
        i += 1


def test_4_purge_racing_with_adds_leaves_no_orphans(make_mem: Callable[[], GraphMem],
                                                    driver: Driver) -> None:
    for trial in range(3):
        user = f"race{uuid.uuid4().hex[:8]}"
        adders = [make_mem() for _ in range(3)]
        purger = make_mem()
        adders[0].remember("seed", user_id=user)
        stop = threading.Event()
        unexpected: list[BaseException] = []
        threads = [threading.Thread(target=_add_until, args=(stop, m, n, user, unexpected))
                   for n, m in enumerate(adders)]
        for t in threads:
            t.start()
        threading.Event().wait(0.5 + 0.2 * trial)
        purger.purge(user_id=user, actor=f"user:{user}")
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not unexpected, unexpected
        assert orphans(driver, user) == 0, f"trial {trial}: nodes left outside any scope"
        # What a write after the erasure stored is the user's again, and fully erasable.
        purger.purge(user_id=user, actor=f"user:{user}")
        assert count_user_nodes(driver, user) == {k: 0 for k in count_user_nodes(driver, user)}


def test_4_a_write_waiting_on_an_erasure_fails_clearly(mem: GraphMem, uid: str,
                                                       driver: Driver) -> None:
    """Deterministic: the erasure holds its locks while an add waits; after it commits the
    add fails with Conflict instead of writing into the deleted scope."""
    mem.remember("seed", user_id=uid)
    outcome: list[object] = []
    with driver.session() as session:
        tx = session.begin_transaction()
        tx.run(QUERIES["cubes/purge_lock"], principal=f"user:{uid}").consume()
        worker = threading.Thread(target=lambda: outcome.append(_try(
            lambda: mem.remember("written during the erasure", user_id=uid))))
        worker.start()
        worker.join(timeout=1.5)
        assert worker.is_alive(), "the add must wait for the erasure's locks"
        tx.run(QUERIES["cubes/purge_user"], principal=f"user:{uid}").consume()
        tx.commit()
    worker.join(timeout=30)
    assert outcome, "the add never returned"
    result = outcome[0]
    assert isinstance(result, Conflict) or not isinstance(result, BaseException), result
    assert orphans(driver, uid) == 0


def _try(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except BaseException as exc:  # returned for the assertion
        return exc


def test_7_writes_after_another_process_purged_the_user(make_mem: Callable[[], GraphMem],
                                                       uid: str) -> None:
    long_lived, other = make_mem(), make_mem()
    long_lived.remember("before the purge", user_id=uid)
    other.purge(user_id=uid, actor=f"user:{uid}")
    cube = long_lived.remember("I adopted a cat named Miso.", user_id=uid)
    hits = long_lived.search("What is my cat called?", user_id=uid)
    assert [h.cube.id for h in hits][:1] == [cube.id]


def test_12_a_reborn_user_does_not_inherit_its_groups(mem: GraphMem, uid: str) -> None:
    group, member = f"g{uid}", f"user:{uid}m"
    scope = mem.create_group(group, actor=f"user:{uid}")
    mem.add_member(group, member, actor=f"user:{uid}")
    mem.accept_invitation(group, actor=member)
    note = mem.remember("The group's plan.", actor=member, scope=scope)
    mem.purge(user_id=uid, actor=f"user:{uid}")
    with pytest.raises(PermissionDenied):
        mem.create_group(group, actor=f"user:{uid}")
    with pytest.raises(NotFound):
        mem.get(note.id, actor=f"user:{uid}")
    assert mem.get(note.id, actor=member).text == "The group's plan."


# --- 5, 6: ownership and denials ----------------------------------------------------------------


def test_5_nobody_writes_memories_owned_by_another_user(mem: GraphMem, uid: str,
                                                       driver: Driver) -> None:
    victim, mallory = uid, f"{uid}m"
    mem.remember("I am allergic to shellfish.", user_id=victim)
    scope = mem.create_group(f"g{uid}", actor=f"user:{mallory}")
    mem.add_member(f"g{uid}", f"user:{victim}", actor=f"user:{mallory}")
    with pytest.raises(PermissionDenied, match="owned by user:"):
        mem.add([{"role": "user", "content": "I am no longer allergic to shellfish."}],
                user_id=victim, actor=f"user:{mallory}", scope=scope)
    with pytest.raises(PermissionDenied):
        mem.remember("I love shellfish.", user_id=victim, actor=f"user:{mallory}", scope=scope)
    # Mallory's own note in her group does not reach the victim: the invitation is unaccepted.
    mem.remember("Shellfish is safe for you now.", actor=f"user:{mallory}", scope=scope)
    seen = [h.cube.text for h in mem.search("shellfish", user_id=victim, limit=10)]
    assert seen == ["I am allergic to shellfish."]
    assert [c["id"] for c in live_cubes(driver, victim)] == [
        c.id for c in mem.list(user_id=victim)]


def test_5_a_denied_add_leaves_nothing_though_its_writes_share_the_checks_statement(
        mem: GraphMem, uid: str, driver: Driver) -> None:
    """The ACL check and the add's writes are one statement (Neo4jStore._begin_write's
    `then`): the writes run before Python reads the check, and the denial must roll them all
    back: no episode, entity, cube or relation in the scope the write could reach."""
    victim, mallory = uid, f"{uid}m"
    mem.remember("I am allergic to shellfish.", user_id=victim)
    scope = mem.create_group(f"g{uid}", actor=f"user:{mallory}")
    mem.add_member(f"g{uid}", f"user:{victim}", actor=f"user:{mallory}")
    text = "I stopped eating shellfish after my trip to Lima with Jonas Berg."
    with pytest.raises(PermissionDenied, match="owned by user:"):
        mem.add([{"role": "user", "content": text}], user_id=victim, actor=f"user:{mallory}",
                scope=scope)
    records, _, _ = driver.execute_query(
        "RETURN COUNT { MATCH (e:Episode {scope: $scope}) } AS episodes, "
        "COUNT { MATCH (n:Entity {scope: $scope}) } AS entities, "
        "COUNT { MATCH (c:MemCube {scope: $scope}) } AS cubes, "
        "COUNT { MATCH (:Entity {scope: $scope})-[:RELATED]-() } AS relations", scope=scope)
    assert dict(records[0]) == {"episodes": 0, "entities": 0, "cubes": 0, "relations": 0}
    mem.add([{"role": "user", "content": text}], actor=f"user:{mallory}", scope=scope)
    records, _, _ = driver.execute_query(  # the same add, allowed, writes all of them
        "RETURN COUNT { MATCH (e:Episode {scope: $scope}) } AS episodes, "
        "COUNT { MATCH (n:Entity {scope: $scope}) } AS entities", scope=scope)
    assert records[0]["episodes"] == 1 and records[0]["entities"] >= 2


def test_5_writing_for_a_user_needs_that_users_consent(mem: GraphMem, uid: str) -> None:
    agent = f"agent:{uid}"
    with pytest.raises(PermissionDenied):
        mem.remember("Books a table at 8.", user_id=uid, actor=agent)
    mem.remember("my own first note", user_id=uid)
    mem.grant(f"scope:private:{uid}", agent, actor=f"user:{uid}", read=True, write=True)
    cube = mem.remember("Books a table at 8.", user_id=uid, actor=agent)
    assert cube.meta.owner == uid


def test_5_an_invitation_grants_nothing_until_accepted(mem: GraphMem, uid: str) -> None:
    lead, member = f"{uid}l", uid
    scope = mem.create_group(f"g{uid}", actor=f"user:{lead}")
    note = mem.remember("Team secret.", actor=f"user:{lead}", scope=scope)
    mem.add_member(f"g{uid}", f"user:{member}", actor=f"user:{lead}")
    with pytest.raises(NotFound):
        mem.get(note.id, actor=f"user:{member}")
    with pytest.raises(NotFound):
        mem.accept_invitation(f"g{uid}", actor=f"user:{uid}stranger")
    assert mem.accept_invitation(f"g{uid}", actor=f"user:{member}") == scope
    assert mem.get(note.id, actor=f"user:{member}").text == "Team secret."


def test_6_a_denied_write_is_permission_denied_not_unavailable(mem: GraphMem, uid: str) -> None:
    other = f"{uid}o"
    mem.remember("mine", user_id=other)
    with pytest.raises(PermissionDenied) as info:
        mem.remember("intruding", actor=f"user:{uid}", scope=f"scope:private:{other}")
    assert not isinstance(info.value, StoreUnavailable)
    with pytest.raises(PermissionDenied):
        mem.add("intruding", actor=f"user:{uid}", scope=f"scope:private:{other}")


# --- 8: bundles ---------------------------------------------------------------------------------


def _rehash(bundle: Path) -> None:
    import hashlib

    manifest = json.loads((bundle / "manifest.json").read_text())
    for name in manifest["sha256"]:
        manifest["sha256"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_8_a_bundle_cannot_graft_onto_another_users_cube(mem: GraphMem, uid: str,
                                                         tmp_path: Path, driver: Driver) -> None:
    attacker, victim = f"{uid}a", uid
    target = mem.remember("Victim's address: Rua Nova 1.", user_id=victim)
    mem.remember("attacker's note", user_id=attacker)
    bundle = tmp_path / "b"
    mem.export(attacker, bundle, actor=f"user:{attacker}")
    lines = (bundle / "cubes.jsonl").read_text().splitlines()
    forged = json.loads(lines[0])
    forged["meta"]["id"] = target.id
    forged["meta"]["version"] = 7
    (bundle / "cubes.jsonl").write_text(json.dumps(forged) + "\n")
    _rehash(bundle)
    with pytest.raises(Conflict):
        mem.import_bundle(bundle, user_id=attacker)
    records, _, _ = driver.execute_query(
        "MATCH (c:MemCube {id: $id}) RETURN count(c) AS n, collect(DISTINCT c.scope) AS s",
        id=target.id)
    assert records[0]["n"] == 1 and records[0]["s"] == [f"scope:private:{victim}"]
    assert mem.update(target.id, "Victim's address: Rua Velha 2.",
                      actor=f"user:{victim}").meta.version == 2


# --- 9, 11: input that used to be accepted --------------------------------------------------


def test_9_duplicate_message_ids_with_different_content(mem: GraphMem, uid: str,
                                                        driver: Driver) -> None:
    with pytest.raises(InvalidInput, match="used twice"):
        mem.add([{"role": "user", "content": "I like tea.", "id": "x"},
                 {"role": "user", "content": "I like coffee.", "id": "x"}], user_id=uid)
    assert count_user_nodes(driver, uid)["episodes"] == 0


def test_11_every_text_field_has_a_limit(mem: GraphMem, uid: str, driver: Driver) -> None:
    cube = mem.remember("a fact", user_id=uid)
    with pytest.raises(PayloadTooLarge, match="reason"):
        mem.update(cube.id, "a new fact", actor=f"user:{uid}", reason="r" * 10_000_000)
    assert mem.get(cube.id, actor=f"user:{uid}").meta.version == 1
    records, _, _ = driver.execute_query(
        "MATCH (a:AuditEvent {actor: $a}) RETURN max(size(coalesce(a.detail, ''))) AS n",
        a=f"user:{uid}")
    assert (records[0]["n"] or 0) < 10_000


# --- 13, 15, 17: clear errors, names, reads -------------------------------------------------------


def _bad_calls(uid: str, tmp_path: Path) -> list[tuple[str, Callable[[GraphMem], object]]]:
    actor = f"user:{uid}"
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):
        node["x"] = {}
        node = node["x"]
    (tmp_path / "file").write_text("already here")
    return [
        ("surrogate query", lambda m: m.search("caf\udce9", user_id=uid)),
        ("surrogate text", lambda m: m.remember("caf\udce9", user_id=uid)),
        ("surrogate id", lambda m: m.get("cube_\ud800", actor=actor)),
        ("deep metadata", lambda m: m.remember("fine", user_id=uid, metadata=deep)),
        ("float limit", lambda m: m.list(user_id=uid, limit=1.5)),  # type: ignore[arg-type]
        ("str limit", lambda m: m.list(user_id=uid, limit="3")),  # type: ignore[arg-type]
        ("None limit", lambda m: m.list(user_id=uid, limit=None)),  # type: ignore[arg-type]
        ("bool limit", lambda m: m.search("x", user_id=uid, limit=True)),
        ("bogus kind", lambda m: m.list(user_id=uid, kinds=["bogus"])),
        ("bogus search kind", lambda m: m.search("x", user_id=uid, kinds=["bogus"])),
        ("huge offset", lambda m: m.list(user_id=uid, offset=2**64)),
        ("huge version", lambda m: m.get("cube_x", actor=actor, version=2**64)),
        ("None episode ids", lambda m: m.episode_message_ids(None, actor=actor)),  # type: ignore[arg-type]
        ("export to a file", lambda m: m.export(uid, tmp_path / "file", actor=actor)),
        ("trailing newline", lambda m: m.remember("fine", user_id=f"{uid}\n")),
        ("zero-width only", lambda m: m.remember("\u200b\u200d\ufeff", user_id=uid)),
        ("zero-width message", lambda m: m.add([{"role": "user", "content": "\u200b"}],
                                               user_id=uid)),
        ("bad session", lambda m: m.search("x", user_id=uid, session_id="a b")),
    ]


def test_13_15_bad_values_get_invalid_input_and_write_nothing(mem: GraphMem, uid: str,
                                                              tmp_path: Path,
                                                              driver: Driver) -> None:
    mem.remember("seed", user_id=uid)
    before = count_user_nodes(driver, uid)
    for name, call in _bad_calls(uid, tmp_path):
        with pytest.raises(InvalidInput):
            call(mem)
        assert count_user_nodes(driver, uid)["cubes"] == before["cubes"], name
    assert count_user_nodes(driver, f"{uid}\n")["principals"] == 0


def test_13_kinds_as_one_string(mem: GraphMem, uid: str) -> None:
    fact = mem.remember("I speak Portuguese.", user_id=uid, kind="fact")
    mem.remember("I prefer aisle seats.", user_id=uid, kind="preference")
    assert [h.cube.id for h in mem.search("languages and seats", user_id=uid, kinds="fact",
                                          limit=5)] == [fact.id]
    assert [c.id for c in mem.list(user_id=uid, kinds="fact")] == [fact.id]


def test_13_bundle_episode_without_id(mem: GraphMem, uid: str, tmp_path: Path) -> None:
    mem.add("I live in Lisbon.", user_id=uid, infer=False)
    bundle = tmp_path / "b"
    mem.export(uid, bundle, actor=f"user:{uid}")
    episodes = [json.loads(x) for x in (bundle / "episodes.jsonl").read_text().splitlines()]
    del episodes[0]["id"]
    (bundle / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    _rehash(bundle)
    with pytest.raises(InvalidInput, match="no string id"):
        mem.import_bundle(bundle, user_id=f"{uid}b", remap_ids=True)


def test_17_reads_never_create_principals(mem: GraphMem, uid: str, driver: Driver) -> None:
    with pytest.raises(NotFound):
        mem.get("cube_nothing", actor=f"group:g{uid}")
    assert mem.search("anything", user_id=uid) == []
    assert mem.list(user_id=uid) == []
    assert count_user_nodes(driver, uid)["principals"] == 0
    records, _, _ = driver.execute_query(
        "MATCH (p:Principal {id: $g}) RETURN count(p) AS n", g=f"group:g{uid}")
    assert records[0]["n"] == 0
    assert mem.create_group(f"g{uid}", actor=f"user:{uid}") == f"scope:group:g{uid}"
    with pytest.raises(NotFound):
        mem.grant(f"scope:private:{uid}", f"group:nobody{uid}", actor=f"user:{uid}")


# --- 16: working memory -----------------------------------------------------------------------


def test_16_working_memory_is_its_owners_alone(mem: GraphMem, uid: str) -> None:
    a, b = f"user:{uid}a", f"user:{uid}b"
    mem.remember("My sister Ana lives in Porto.", user_id=f"{uid}b")
    mem.search("Where does Ana live?", user_id=f"{uid}b", session_id="trip")
    before = mem.scheduler.working_memory(b, "trip").stats().observations
    mem.search("Where does Ana live?", actor=a, session_id="trip")
    assert mem.scheduler.working_memory(b, "trip").stats().observations == before
    shown = mem.scheduler.status(actor=a).working_memory
    assert all(s.actor == a for s in shown)
    assert {s.actor for s in mem.scheduler.status(actor=b).working_memory} == {b}
