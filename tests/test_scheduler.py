"""The MemScheduler against a real Neo4j: heat, lifecycle, merging, promotion, working memory.

Time is a fake clock: cubes are created at the server's real time, then the clock is moved
forward, so decay, TTLs and "hot for N hours" are tested without sleeping. Every tick names the
test user as actor, so it only ever touches that user's scope in the shared test database.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from neo4j import Driver
from typer.testing import CliRunner

from graphmem.api import GraphMem
from graphmem.errors import NotFound
from graphmem.models import utcnow
from graphmem.schedulers import MemScheduler, SchedulerPolicy
from graphmem.schedulers.cli import app as scheduler_cli
from graphmem.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class CountingStore:
    """Delegates to the real store and counts the named queries run through it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.writes: list[str] = []

    def write_query(self, name: str, /, **params: Any) -> list[dict[str, Any]]:
        self.writes.append(name)
        return self._inner.write_query(name, **params)  # type: ignore[no-any-return]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def props(driver: Driver, cube_id: str) -> dict[str, Any]:
    records, _, _ = driver.execute_query(
        "MATCH (c:MemCube {id: $id}) WHERE c.current RETURN c {.*, embedding: null} AS c",
        id=cube_id)
    return dict(records[0]["c"])


def audited(driver: Driver, action: str, cube_id: str) -> int:
    records, _, _ = driver.execute_query(
        "MATCH (a:AuditEvent {action: $action}) WHERE $id IN a.targets RETURN count(a) AS n",
        action=action, id=cube_id)
    return int(records[0]["n"])


# --- policy -----------------------------------------------------------------------------------


def test_policy_checks_its_thresholds() -> None:
    policy = SchedulerPolicy()
    assert policy.merge_min_score == pytest.approx(0.975)  # Neo4j's (1 + cos) / 2
    assert policy.rank_weight(0) == 1.0 and policy.rank_weight(2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="archive_heat"):
        SchedulerPolicy(archive_heat=3.0, activate_heat=2.0)
    with pytest.raises(ValueError, match="unknown cube kinds"):
        SchedulerPolicy(ttl_days={"gossip": 3.0})
    with pytest.raises(ValueError, match="kv_heat"):
        SchedulerPolicy(kv_heat=1.0, activate_heat=2.0)


# --- heat -------------------------------------------------------------------------------------


def test_hits_are_flushed_in_one_batched_acl_scoped_write(
    mem: GraphMem, uid: str, clock: FakeClock, driver: Driver
) -> None:
    mine = [mem.remember(f"Scheduler batch fact {i} for {uid}.", user_id=uid) for i in range(3)]
    other = mem.remember("Someone else's secret plan.", user_id=f"{uid}x")
    store = CountingStore(mem.store)
    sched = MemScheduler(store, SchedulerPolicy(hit_batch_size=100), clock=clock)  # type: ignore[arg-type]

    ids = [c.id for c in mine]
    sched.hits.record(f"user:{uid}", [*ids, other.id])
    sched.hits.record(f"user:{uid}", [(ids[0], 0)])
    assert sched.hits.pending == 5 and store.writes == []
    assert props(driver, ids[0])["hits"] == 0, "nothing is written before the flush"

    result = sched.flush()
    assert store.writes == ["scheduler/record_hits"], "one query for the whole buffer"
    assert (result.hits, result.cubes) == (5, 3)
    first, second, third = (props(driver, i) for i in ids)
    assert (first["hits"], second["hits"], third["hits"]) == (2, 1, 1)
    assert first["heat"] == pytest.approx(2.0)
    assert second["heat"] == pytest.approx(1 / 1.5) and third["heat"] == pytest.approx(0.5)
    untouched = props(driver, other.id)
    assert (untouched["hits"], untouched["heat"]) == (0, 0.0), "another user's cube is not hit"
    assert "last_hit_at" not in untouched

    auto = MemScheduler(store, SchedulerPolicy(hit_batch_size=3), clock=clock)  # type: ignore[arg-type]
    assert auto.hits.record(f"user:{uid}", ids[:2]) is None
    flushed = auto.hits.record(f"user:{uid}", ids[2:])
    assert flushed is not None and flushed.hits == 3 and auto.hits.pending == 0


class SlowWrites(CountingStore):
    """Holds every write until `release` is set: a slow Neo4j, for the latency path."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.release = threading.Event()

    def write_query(self, name: str, /, **params: Any) -> list[dict[str, Any]]:
        assert self.release.wait(10), "the test never released the write"
        return super().write_query(name, **params)


def test_a_search_never_waits_for_the_hit_flush_it_triggers(
    mem: GraphMem, uid: str, clock: FakeClock, driver: Driver
) -> None:
    """The flush a full batch triggers ran inside the search call (~20 ms on two cores on
    every sixth or seventh search: the search's p95); it now runs on its own thread, and an
    explicit flush waits for it, so nothing is lost or read early."""
    cubes = [mem.remember(f"Flush latency fact {i} for {uid}.", user_id=uid) for i in range(2)]
    store = SlowWrites(mem.store)
    sched = MemScheduler(store, SchedulerPolicy(hit_batch_size=2), clock=clock)  # type: ignore[arg-type]
    actor = f"user:{uid}"
    searched = threading.Thread(target=sched.on_retrieval,
                                args=(actor, uid, None, "facts", [c.id for c in cubes]))
    searched.start()
    searched.join(timeout=5)
    assert not searched.is_alive(), "the search waited on the hit write"
    assert props(driver, cubes[0].id)["hits"] == 0, "the write is still held"
    flushing = threading.Thread(target=sched.flush)
    flushing.start()
    store.release.set()
    flushing.join(timeout=10)
    assert not flushing.is_alive()
    assert store.writes == ["scheduler/record_hits"], "one write, not one per flush call"
    assert [props(driver, c.id)["hits"] for c in cubes] == [1, 1]


def test_heat_decays_with_time(mem: GraphMem, uid: str, clock: FakeClock,
                               driver: Driver) -> None:
    cube = mem.remember("I am learning to play the bandoneon.", user_id=uid)
    sched = MemScheduler(mem.store, SchedulerPolicy(half_life_hours=24), clock=clock)
    actor = f"user:{uid}"
    sched.on_retrieval(actor, uid, None, "music", [cube.id])
    sched.flush()
    clock.advance(hours=24)
    sched.on_retrieval(actor, uid, None, "music", [cube.id])
    sched.flush()
    stored = props(driver, cube.id)
    assert stored["heat"] == pytest.approx(1.5), "one half-life halves the first hit"
    assert stored["hits"] == 2

    status = sched.status(actor=actor, now=clock.advance(hours=48))
    assert status.hottest[0].id == cube.id
    assert status.hottest[0].heat == pytest.approx(1.5 * 0.25)
    report = sched.tick(actor=actor)
    assert report.decay.updated == 1
    assert props(driver, cube.id)["heat"] == pytest.approx(0.375)
    assert mem.get(cube.id, actor=actor).meta.heat == pytest.approx(0.375)


# --- lifecycle --------------------------------------------------------------------------------


def test_hot_cubes_are_activated_and_audited(mem: GraphMem, uid: str, clock: FakeClock,
                                             driver: Driver) -> None:
    hot = mem.remember("My favourite tea is genmaicha.", user_id=uid)
    cool = mem.remember("I once visited Reykjavik.", user_id=uid)
    sched = MemScheduler(mem.store, SchedulerPolicy(activate_heat=2.0), clock=clock)
    actor = f"user:{uid}"
    sched.on_retrieval(actor, uid, None, "tea", [hot.id, cool.id])
    for _ in range(2):
        sched.on_retrieval(actor, uid, None, "tea", [hot.id])
    report = sched.tick(actor=actor)
    assert report.activated.ids == [hot.id]
    assert mem.get(hot.id, actor=actor).meta.status == "activated"
    assert mem.get(cool.id, actor=actor).meta.status == "generated"
    assert audited(driver, "lifecycle:activate", hot.id) == 1
    assert props(driver, hot.id)["status_changed_by"] == actor
    assert sched.tick(actor=actor).activated.count == 0, "nothing left to activate"


def test_expired_ttl_and_cold_cubes_are_archived(mem: GraphMem, uid: str, clock: FakeClock,
                                                 driver: Driver) -> None:
    actor = f"user:{uid}"
    expiring = mem.remember("Parking permit code 4411.", user_id=uid,
                            expires=clock.now + timedelta(hours=1))
    naive_expiry = mem.remember("Door code 9090 this week.", user_id=uid,
                                expires=(clock.now + timedelta(hours=1)).replace(tzinfo=None))
    plain = mem.remember("My bike is a green Brompton.", user_id=uid)
    pinned = mem.remember("I am allergic to penicillin.", user_id=uid, priority="high")
    used = mem.remember("My running shoes are size 43.", user_id=uid)
    turn = mem.add("Today I repainted the hallway blue.", user_id=uid, session_id="s1",
                   infer=False).cubes[0]
    assert turn.meta.kind == "episode"
    sched = MemScheduler(mem.store, SchedulerPolicy(archive_after_days=30,
                                                    ttl_days={"episode": 90}), clock=clock)

    report = sched.tick(clock.advance(hours=2), actor=actor)
    assert sorted(report.archived.ids) == sorted([expiring.id, naive_expiry.id])
    assert report.archived.reasons == {"expired": 2}
    assert props(driver, expiring.id)["status_reason"] == "expired"

    clock.advance(days=100)
    sched.on_retrieval(actor, uid, None, "shoes", [used.id])
    report = sched.tick(actor=actor)
    assert report.archived.reasons == {"cold": 1, "ttl": 1}
    assert sorted(report.archived.ids) == sorted([plain.id, turn.id])
    assert mem.get(plain.id, actor=actor).meta.status == "archived"
    assert mem.get(pinned.id, actor=actor).meta.status == "generated", "high priority stays"
    assert mem.get(used.id, actor=actor).meta.status == "generated", "recently used stays"
    assert audited(driver, "lifecycle:archive", plain.id) == 1
    hits = mem.search("What bike do I have?", user_id=uid, limit=5)
    assert plain.id not in [h.cube.id for h in hits], "archived cubes leave search"


def test_near_duplicates_merge_into_the_hotter_cube(mem: GraphMem, uid: str, clock: FakeClock,
                                                    driver: Driver) -> None:
    actor = f"user:{uid}"
    older = mem.remember("My sister Ana lives in Porto and works as a nurse.", user_id=uid)
    newer = mem.remember("My sister Ana lives in Porto and works as a nurse!", user_id=uid)
    distinct = mem.remember("I play the cello on Sunday mornings.", user_id=uid)
    elsewhere = mem.remember("My sister Ana lives in Porto and works as a nurse.",
                             user_id=f"{uid}x")
    sched = MemScheduler(mem.store, SchedulerPolicy(merge_cosine=0.95), clock=clock)
    sched.on_retrieval(actor, uid, None, "sister", [older.id])

    report = sched.tick(actor=actor)
    assert report.merge.merged == {newer.id: older.id}, "the colder duplicate is merged"
    assert report.merge.compared == 3
    assert mem.get(newer.id, actor=actor).meta.status == "merged"
    assert mem.get(older.id, actor=actor).meta.status == "generated"
    assert mem.get(distinct.id, actor=actor).meta.status == "generated"
    records, _, _ = driver.execute_query(
        "MATCH (a:MemCube {id: $a})-[m:MERGED_INTO]->(b:MemCube) RETURN b.id AS b, m.cosine AS cos",
        a=newer.id)
    assert records[0]["b"] == older.id and records[0]["cos"] >= 0.95
    assert audited(driver, "lifecycle:merge", newer.id) == 1
    hits = mem.search("Where does my sister live?", user_id=uid, limit=5)
    assert newer.id not in [h.cube.id for h in hits] and older.id in [h.cube.id for h in hits]
    assert mem.get(elsewhere.id, actor=f"user:{uid}x").meta.status == "generated", \
        "the same text in another user's scope is not a duplicate"
    again = sched.tick(actor=actor)
    assert (again.merge.compared, again.merge.count) == (0, 0), "checked cubes are not rescanned"


def test_frozen_cubes_are_never_touched(mem: GraphMem, uid: str, clock: FakeClock,
                                        driver: Driver) -> None:
    actor = f"user:{uid}"
    frozen = mem.remember("Grandma's lasagne recipe uses nutmeg.", user_id=uid,
                          expires=clock.now + timedelta(minutes=5))
    twin = mem.remember("Grandma's lasagne recipe uses nutmeg!", user_id=uid)
    assert mem.store.set_status(actor, f"{frozen.id}:v1", to="frozen", from_=["generated"])
    before = props(driver, frozen.id)
    sched = MemScheduler(mem.store, SchedulerPolicy(), clock=clock)
    for _ in range(5):
        sched.on_retrieval(actor, uid, None, "lasagne", [frozen.id, twin.id])
    sched.tick(clock.advance(days=365), actor=actor)
    assert props(driver, frozen.id) == before, "no hit, decay, archive or merge on a frozen cube"
    records, _, _ = driver.execute_query(
        "MATCH (c:MemCube {id: $id})-[r:MERGED_INTO|CO_RETRIEVED]-() RETURN count(r) AS n",
        id=frozen.id)
    assert records[0]["n"] == 0


# --- promotion --------------------------------------------------------------------------------


PROMOTE = SchedulerPolicy(rank_discount=0.0, activate_heat=2.0, kv_heat=3.0, kv_min_hits=3,
                          kv_sustain_hours=1.0, kv_group_min_co_hits=3, lora_heat=1000.0)


def test_sustained_hot_cubes_are_queued_once(mem: GraphMem, uid: str, clock: FakeClock,
                                             driver: Driver) -> None:
    actor = f"user:{uid}"
    single = mem.remember("I take my coffee black, no sugar.", user_id=uid)
    pair = [mem.remember("My daughter Lina is seven.", user_id=uid),
            mem.remember("Lina goes to the Montessori school on Rua Direita.", user_id=uid)]
    sched = MemScheduler(mem.store, PROMOTE, clock=clock)

    def use() -> None:
        for _ in range(4):
            sched.on_retrieval(actor, uid, None, "coffee", [single.id])
            sched.on_retrieval(actor, uid, None, "Lina", [pair[0].id, pair[1].id])

    use()
    first = sched.tick(actor=actor)
    assert first.activated.count == 3 and first.decay.hot == 3
    assert first.queued == [], "hot, but not for kv_sustain_hours yet"

    clock.advance(hours=2)
    use()
    second = sched.tick(actor=actor)
    queued = {frozenset(r.cube_ids): r for r in second.queued}
    assert set(queued) == {frozenset([single.id]), frozenset(c.id for c in pair)}
    assert {r.target for r in second.queued} == {"kv_cache"}
    group = queued[frozenset(c.id for c in pair)]
    assert "retrieved together" in group.reason and group.status == "queued"
    records, _, _ = driver.execute_query(
        "MATCH (r:PromotionRequest {id: $id})-[:PROMOTES]->(c:MemCube) RETURN collect(c.id) AS ids",
        id=group.id)
    assert sorted(records[0]["ids"]) == sorted(c.id for c in pair)

    clock.advance(hours=1)
    use()
    assert sched.tick(actor=actor).queued == [], "a queued cube is not queued twice"
    assert sched.promotions.queue("kv_cache", [single.id], reason="by hand", actor=actor) is None

    status = sched.status(actor=actor)
    assert {r.id for r in status.queue} == {r.id for r in second.queued}
    assert status.requests == {"kv_cache": {"queued": 2}}
    assert status.cubes_by_status == {"activated": 3}

    done = sched.promotions.mark(group.id, "done", actor=actor, detail="kv/lina.safetensors")
    assert done.status == "done" and done.detail == "kv/lina.safetensors"
    with pytest.raises(NotFound):
        sched.promotions.mark(group.id, "done", actor=actor)
    mem.remember("Another user, with a scope of its own.", user_id=f"{uid}x")
    with pytest.raises(NotFound):
        sched.promotions.mark(queued[frozenset([single.id])].id, "failed", actor=f"user:{uid}x")
    assert sched.tick(clock.advance(hours=1), actor=actor).queued == [], "done is not redone"
    assert sched.promotions.list_queue(actor=f"user:{uid}x") == [], "the queue obeys the ACL"


def test_hotter_for_longer_is_queued_for_lora(mem: GraphMem, uid: str,
                                              clock: FakeClock) -> None:
    actor = f"user:{uid}"
    cube = mem.remember("I write all my services in Rust.", user_id=uid)
    policy = PROMOTE.model_copy(update={"lora_heat": 4.0, "lora_min_hits": 6,
                                        "lora_sustain_days": 0.25})
    sched = MemScheduler(mem.store, policy, clock=clock)
    for step in range(3):
        for _ in range(4):
            sched.on_retrieval(actor, uid, None, "language", [cube.id])
        report = sched.tick(clock.advance(hours=4) if step else None, actor=actor)
    targets = sorted(r.target for r in sched.promotions.list_queue(actor=actor))
    assert targets == ["kv_cache", "lora"]
    assert report.queued and report.queued[-1].target == "lora"


# --- working memory -------------------------------------------------------------------------


def test_working_memory_preloads_what_the_session_is_about(
    mem: GraphMem, uid: str, clock: FakeClock, driver: Driver
) -> None:
    actor = f"user:{uid}"
    turn = mem.add("We are planning a trip to Porto to see my sister.", user_id=uid,
                   session_id="trip", infer=False).cubes[0]
    lives = mem.remember("My sister Ana lives in Porto.", user_id=uid)
    nurse = mem.remember("Ana works night shifts as a nurse.", user_id=uid)
    jazz = mem.remember("I listen to jazz while cooking.", user_id=uid)
    # Test setup: entities and ABOUT edges as an extractor would write them.
    driver.execute_query(
        """
        UNWIND $links AS link
        MERGE (n:Entity {id: $uid + ':' + link.entity})
          ON CREATE SET n.name = link.entity, n.norm = toLower(link.entity),
                        n.scope = 'scope:private:' + $uid, n.owner = $uid
        WITH n, link
        MATCH (c:MemCube {id: link.cube})
        MERGE (c)-[:ABOUT]->(n)
        """,
        uid=uid,
        links=[{"cube": turn.id, "entity": "Porto"}, {"cube": turn.id, "entity": "Ana"},
               {"cube": lives.id, "entity": "Porto"}, {"cube": lives.id, "entity": "Ana"},
               {"cube": nurse.id, "entity": "Ana"}, {"cube": jazz.id, "entity": "jazz"}])
    sched = MemScheduler(mem.store, SchedulerPolicy(), clock=clock)

    note = sched.on_retrieval(actor, uid, "trip", "where does my sister live?", [lives.id])
    assert note.hit_rate is None, "nothing was preloaded before the first search"
    assert set(note.preloaded[:2]) == {turn.id, lives.id}, "about both Porto and Ana"
    assert note.preloaded[2:] == [nurse.id], "about Ana only; jazz is off topic"
    assert sched.preloaded(uid, "trip") == note.preloaded

    note = sched.on_retrieval(actor, uid, "trip", "what does she do?", [nurse.id, jazz.id])
    assert note.hit_rate == 0.5
    stats = sched.working_memory(uid, "trip").stats()
    assert (stats.observations, stats.retrieved, stats.preloaded_hits, stats.cold_starts) == (
        1, 2, 1, 1)
    assert stats.hit_rate == 0.5
    assert sched.status(actor=actor).hit_rate == 0.5

    stranger = sched.working_memory(uid, "trip").preload(
        mem.store, sched.policy, actor=f"user:{uid}x", now=clock.now)
    assert stranger == [], "another principal cannot preload this user's session"


# --- CLI --------------------------------------------------------------------------------------


def test_cli_tick_and_status(mem: GraphMem, uid: str, neo4j_settings: Settings,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    mem.remember("The CLI should see this cube.", user_id=uid)
    monkeypatch.setenv("GRAPHMEM_NEO4J_URI", neo4j_settings.neo4j_uri)
    monkeypatch.setenv("GRAPHMEM_NEO4J_PASSWORD",
                       neo4j_settings.neo4j_password.get_secret_value())
    runner = CliRunner()
    assert "promotion queue" in runner.invoke(scheduler_cli, ["status", "--help"]).output
    refused = runner.invoke(scheduler_cli, ["tick"])
    assert refused.exit_code == 2 and "--all" in refused.output
    ticked = runner.invoke(scheduler_cli, ["tick", "--user", uid, "--json"])
    assert ticked.exit_code == 0, ticked.output
    assert json.loads(ticked.output)["actor"] == f"user:{uid}"
    shown = runner.invoke(scheduler_cli, ["status", "--user", uid, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["cubes_by_status"] == {"generated": 1}
    table = runner.invoke(scheduler_cli, ["status", "--user", uid])
    assert "promotion queue" in table.output and "generated" in table.output
    policy = runner.invoke(scheduler_cli, ["policy"])
    assert "half_life_hours" in policy.output
