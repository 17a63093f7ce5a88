"""The README's shared multi-agent example, over HTTP: a planner and a booking agent share a
team scope; two users keep private memory; each party's view is checked, and an agent reads a
user's memory only after that user's own key granted it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from neo4j import Driver

from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.settings import Settings
from tests.servers import client, make_key, server_thread


@pytest.fixture(scope="module")
def url(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[str]:
    settings = neo4j_settings.model_copy(update={"extractor": "offline"})
    with server_thread(settings, embedder) as base:
        yield base


def _texts(c: httpx.Client, query: str) -> set[str]:
    hits = c.post("/v1/search", json={"query": query, "limit": 20}).json()["hits"]
    return {h["cube"]["payload"]["content"] for h in hits}


def test_planner_and_booking_share_a_team_scope_users_stay_private(
        url: str, neo4j_settings: Settings, driver: Driver) -> None:
    run = uuid.uuid4().hex[:6]
    names = {p: f"{p}{run}" for p in ("planner", "booking", "maya", "leo")}
    ids = {"planner": f"agent:{names['planner']}", "booking": f"agent:{names['booking']}",
           "maya": f"user:{names['maya']}", "leo": f"user:{names['leo']}"}
    admin = make_key(neo4j_settings, f"user:ops{run}", admin=True)
    with client(url, admin) as ops:
        keys = {p: ops.post("/v1/keys", json={"principal": pid}).json()["key"]
                for p, pid in ids.items()}
    c = {p: client(url, k) for p, k in keys.items()}
    try:
        # The planner creates the team scope and lets the booking agent read and write it.
        team = c["planner"].post("/v1/scopes", json={"name": f"trip-team-{run}"}).json()["scope"]
        assert c["planner"].post("/v1/grants", json={
            "scope": team, "principal": ids["booking"], "read": True, "write": True}).json()
        plan = c["planner"].post("/v1/memories", json={
            "text": "The team offsite is in Lisbon from 12 to 14 May.", "scope": team}).json()
        booked = c["booking"].post("/v1/memories", json={
            "text": "Booked Hotel Avenida in Lisbon for the offsite, confirmation AV-2291.",
            "scope": team}).json()
        # Entities are shared within the scope: both agents' turns about Lisbon meet there.
        a = c["planner"].post("/v1/add", json={"messages": "We fly to Lisbon on 12 May.",
                                               "scope": team}).json()
        b = c["booking"].post("/v1/add", json={
            "messages": "I booked a taxi from the airport to Lisbon.", "scope": team}).json()
        assert "Lisbon" in a["entities"] and "Lisbon" in b["entities"]
        rows, _, _ = driver.execute_query(
            "MATCH (n:Entity {scope: $team}) WHERE n.norm = 'lisbon' "
            "MATCH (n)<-[:ABOUT]-(c:MemCube) "
            "RETURN count(DISTINCT n) AS nodes, collect(DISTINCT c.created_by) AS writers",
            team=team)
        assert rows[0]["nodes"] == 1, "one Lisbon entity in the scope, shared by both agents"
        assert set(rows[0]["writers"]) == {ids["planner"], ids["booking"]}
        # Each fact keeps which agent wrote it.
        assert plan["meta"]["provenance"]["created_by"] == ids["planner"]
        assert booked["meta"]["provenance"]["created_by"] == ids["booking"]
        assert plan["meta"]["scope"] == booked["meta"]["scope"] == team
        # The users' private memory.
        c["maya"].post("/v1/memories", json={"text": "Maya is vegetarian and needs a "
                                                     "window seat on flights."})
        c["leo"].post("/v1/memories", json={"text": "Leo is allergic to shellfish and "
                                                    "flies only economy."})

        q = "offsite Lisbon hotel flights seat allergy vegetarian"
        team_texts = {plan["payload"]["content"], booked["payload"]["content"]}
        maya_fact = "Maya is vegetarian and needs a window seat on flights."
        leo_fact = "Leo is allergic to shellfish and flies only economy."
        for agent in ("planner", "booking"):
            seen = _texts(c[agent], q)
            assert team_texts <= seen, f"{agent} reads the team scope"
            assert maya_fact not in seen and leo_fact not in seen, f"{agent}: users private"
        assert _texts(c["maya"], q) & (team_texts | {leo_fact}) == set()
        assert _texts(c["leo"], q) & (team_texts | {maya_fact}) == set()
        # An agent cannot grant itself a user's scope: only the owner grants.
        denied = c["planner"].post("/v1/grants", json={
            "scope": f"scope:private:{names['maya']}", "principal": ids["planner"]})
        assert denied.status_code == 403 and denied.json()["error"]["reason"] == "forbidden"
        assert maya_fact not in _texts(c["planner"], q)
        # Maya consents: the planner (only) reads her memory; Leo's stays private.
        assert c["maya"].post("/v1/grants", json={
            "scope": f"scope:private:{names['maya']}", "principal": ids["planner"]}).json()
        planner_view = _texts(c["planner"], q)
        assert maya_fact in planner_view and leo_fact not in planner_view
        assert maya_fact not in _texts(c["booking"], q)
        assert leo_fact not in _texts(c["booking"], q)
        # Read is not write: the planner cannot change Maya's memory, and she can withdraw.
        maya_cube = next(h["cube"]["meta"]["id"] for h in c["planner"].post(
            "/v1/search", json={"query": "window seat", "owner": names["maya"]}).json()["hits"])
        assert c["planner"].patch(f"/v1/memories/{maya_cube}",
                                  json={"text": "aisle"}).status_code == 403
        c["maya"].post("/v1/grants/revoke", json={
            "scope": f"scope:private:{names['maya']}", "principal": ids["planner"]})
        assert maya_fact not in _texts(c["planner"], q)
    finally:
        for cl in c.values():
            cl.close()
