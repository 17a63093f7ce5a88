"""The REST server over real HTTP (uvicorn on a free port) against the real Neo4j: every
endpoint, the error shapes and codes, keys and revocation, readiness through an outage."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from graphmem.api import GraphMem
from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.errors import InvalidInput
from graphmem.settings import Settings
from tests.faults import CuttableProxy
from tests.servers import client, make_key, server_thread


@pytest.fixture(scope="module")
def url(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[str]:
    settings = neo4j_settings.model_copy(update={"extractor": "offline"})
    settings.serve = settings.serve.model_copy(update={"max_body_bytes": 200_000})
    with server_thread(settings, embedder) as base:
        yield base


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def maya(url: str, neo4j_settings: Settings) -> Iterator[tuple[str, httpx.Client]]:
    name = _name("maya")
    with client(url, make_key(neo4j_settings, f"user:{name}")) as c:
        yield name, c


def _error(r: httpx.Response, status: int, reason: str) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["reason"] == reason
    assert body["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text and body["message"]
    return body


def test_liveness_readiness_and_request_ids(url: str) -> None:
    with client(url) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["neo4j"] == "ok"
        assert len(ready.headers["x-request-id"]) == 32
        mine = c.get("/healthz", headers={"X-Request-ID": "trace-42"})
        assert mine.headers["x-request-id"] == "trace-42"
        junk = c.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        assert junk.headers["x-request-id"] != "bad id\twith spaces"
        spec = c.get("/openapi.json").json()
        assert {"/v1/add", "/v1/search", "/v1/memories/{cube_id}/history", "/v1/keys",
                "/v1/grants", "/v1/chat"} <= set(spec["paths"])


def test_requests_without_a_valid_key_are_401(url: str, neo4j_settings: Settings) -> None:
    with client(url) as c:
        _error(c.get("/v1/whoami"), 401, "unauthorized")
        _error(c.get("/v1/whoami", headers={"Authorization": "Bearer nonsense"}), 401,
               "unauthorized")
        fake = "gm_" + "A" * 43
        _error(c.get("/v1/whoami", headers={"Authorization": f"Bearer {fake}"}), 401,
               "unauthorized")
    name = _name("kim")
    key = make_key(neo4j_settings, f"user:{name}")
    with client(url, key) as c:
        me = c.get("/v1/whoami").json()
        assert me["principal"] == f"user:{name}" and me["admin"] is False
        assert c.get("/v1/whoami", headers={"Authorization": "", "X-API-Key": key}
                     ).status_code == 200
        revoked = c.delete(f"/v1/keys/{me['key_id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        _error(c.get("/v1/whoami"), 401, "unauthorized")  # at once, no cache


def test_admin_keys_make_keys_and_others_may_not(url: str, neo4j_settings: Settings) -> None:
    admin = make_key(neo4j_settings, f"user:{_name('root')}", admin=True)
    agent = f"agent:{_name('planner')}"
    with client(url, admin) as c:
        made = c.post("/v1/keys", json={"principal": agent, "label": "planner bot"})
        assert made.status_code == 201, made.text
        new_key = made.json()["key"]
        assert made.json()["principal"] == agent and new_key.startswith("gm_")
        listed = c.get("/v1/keys").json()["keys"]
        assert made.json()["id"] in {k["id"] for k in listed}
        assert all("key" not in k and "hash" not in k for k in listed)
        _error(c.post("/v1/keys", json={"principal": "group:team"}), 422, "invalid_request")
    with client(url, new_key) as c:
        assert c.get("/v1/whoami").json()["principal"] == agent
        _error(c.post("/v1/keys", json={"principal": "user:someone"}), 403, "forbidden")
        assert [k["principal"] for k in c.get("/v1/keys").json()["keys"]] == [agent]
        _error(c.delete("/v1/keys/key_0000000000000000"), 404, "not_found")
        _error(c.delete("/v1/keys/not-a-key"), 400, "invalid_input")


def test_memory_lifecycle_over_http(maya: tuple[str, httpx.Client]) -> None:
    name, c = maya
    added = c.post("/v1/add", json={"messages": [
        {"role": "user", "content": "I moved to Porto in March and I love surfing."}],
        "session_id": "s1", "infer": False})
    assert added.status_code == 200, added.text
    assert added.json()["user_id"] == name and added.json()["episodes_written"] == 1
    cube = c.post("/v1/memories", json={"text": "Maya is allergic to peanuts.",
                                        "kind": "fact"})
    assert cube.status_code == 201, cube.text
    cid = cube.json()["meta"]["id"]
    assert cube.json()["meta"]["owner"] == name
    hits = c.post("/v1/search", json={"query": "peanut allergy", "limit": 3}).json()["hits"]
    assert hits[0]["cube"]["meta"]["id"] == cid and hits[0]["scores"]
    got = c.post("/v1/retrieve", json={"query": "where do I live?", "limit": 2}).json()
    assert got["chunks"] and "Porto" in got["chunks"][0]["text"]
    assert c.get(f"/v1/memories/{cid}").json()["payload"]["content"].startswith("Maya is")
    updated = c.patch(f"/v1/memories/{cid}", json={"text": "Maya is allergic to peanuts "
                                                   "and cashews.", "expected_version": 1})
    assert updated.status_code == 200 and updated.json()["meta"]["version"] == 2
    _error(c.patch(f"/v1/memories/{cid}", json={"text": "stale", "expected_version": 1}),
           409, "conflict")
    versions = c.get(f"/v1/memories/{cid}/history").json()["versions"]
    assert [v["meta"]["version"] for v in versions] == [1, 2]
    assert c.get(f"/v1/memories/{cid}", params={"version": 1}).json()["meta"]["version"] == 1
    assert c.delete(f"/v1/memories/{cid}").json()["meta"]["status"] == "archived"
    assert cid not in {h["cube"]["meta"]["id"] for h in
                       c.post("/v1/search", json={"query": "peanut allergy"}).json()["hits"]}
    assert c.post(f"/v1/memories/{cid}/restore").json()["meta"]["status"] == "generated"
    page = c.get("/v1/memories", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_offset"] == 1
    last = c.get("/v1/memories", params={"limit": 1, "offset": 1}).json()
    assert len(last["items"]) == 1 and last["next_offset"] is None
    assert {i["meta"]["id"] for i in page["items"] + last["items"]} >= {cid}
    assert c.get("/v1/memories", params={"kind": "fact"}).json()["items"][0]["meta"][
        "kind"] == "fact"
    events = c.get("/v1/audit", params={"limit": 50}).json()["events"]
    assert {"update", "history", "get"} <= {e["action"] for e in events}
    status = c.get("/v1/scheduler/status").json()
    assert status["actor"] == f"user:{name}" and status["cubes_by_status"]
    assert status["worker"] == c.get("/healthz").json()["worker"]
    purged = c.post(f"/v1/users/{name}/purge")
    assert purged.status_code == 200 and purged.json()["cubes"] >= 2
    _error(c.get(f"/v1/memories/{cid}"), 404, "not_found")


def test_error_codes(url: str, maya: tuple[str, httpx.Client], neo4j_settings: Settings
                     ) -> None:
    name, c = maya
    _error(c.get("/v1/memories/cube_doesnotexist"), 404, "not_found")
    _error(c.post("/v1/memories", json={"text": "x", "bogus": 1}), 422, "invalid_request")
    _error(c.post("/v1/memories", content=b"{not json",
                  headers={"content-type": "application/json"}), 422, "invalid_request")
    _error(c.post("/v1/memories", json={"text": "\u200b\u200b"}), 400, "invalid_input")
    _error(c.post("/v1/memories", json={"text": "x" * 20_000}), 413, "payload_too_large")
    big = c.post("/v1/memories", json={"text": "y" * 250_000})  # over max_body_bytes
    _error(big, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"text": "'
        for _ in range(30):
            yield b"z" * 10_000
        yield b'"}'

    _error(c.post("/v1/memories", content=chunks(), headers={"content-type":
                                                             "application/json"}),
           413, "payload_too_large")
    far = {"role": "user", "content": "x", "timestamp": "2030-12-01T00:31:29+19:06"}
    _error(c.post("/v1/add", json={"messages": [far]}), 422, "invalid_request")  # found by
    _error(c.post("/v1/memories", json={"text": "x", "expires": "2030-01-01T00:00:00-19:00"}),
           422, "invalid_request")  # schemathesis: Neo4j holds offsets within ±18:00 only
    _error(c.get("/v1/nowhere"), 404, "not_found")
    _error(c.put("/v1/search"), 405, "method_not_allowed")
    cid = c.post("/v1/memories", json={"text": "Maya's locker code is 4512."}).json()["meta"]["id"]
    with client(url, make_key(neo4j_settings, f"agent:{_name('snoop')}")) as agent:
        _error(agent.get(f"/v1/memories/{cid}"), 404, "not_found")  # not readable = missing
        _error(agent.post(f"/v1/users/{name}/purge"), 403, "forbidden")
        _error(agent.post("/v1/memories", json={"text": "x", "user_id": name}), 403,
               "forbidden")
        c.post("/v1/grants", json={"scope": f"scope:private:{name}",
                                   "principal": agent.get("/v1/whoami").json()["principal"]})
        assert agent.get(f"/v1/memories/{cid}").status_code == 200
        _error(agent.patch(f"/v1/memories/{cid}", json={"text": "hacked"}), 403, "forbidden")


def test_bundle_export_and_import_over_http(url: str, maya: tuple[str, httpx.Client],
                                            neo4j_settings: Settings) -> None:
    name, c = maya
    c.post("/v1/memories", json={"text": "I play the cello on Sundays."})
    exported = c.get(f"/v1/users/{name}/export")
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(exported.content)) as tar:
        names = tar.getnames()
    assert sorted(names) == ["cubes.jsonl", "episodes.jsonl", "manifest.json"]
    other = _name("ana")
    with client(url, make_key(neo4j_settings, f"user:{other}")) as ana:
        done = ana.post(f"/v1/users/{other}/import", params={"remap_ids": True},
                        content=exported.content, headers={"content-type": "application/gzip"})
        assert done.status_code == 200, done.text
        assert done.json()["versions_created"] == 1
        hits = ana.post("/v1/search", json={"query": "cello"}).json()["hits"]
        assert hits[0]["cube"]["payload"]["content"] == "I play the cello on Sundays."
        _error(ana.post(f"/v1/users/{other}/import", content=b"not a tarball"), 400,
               "invalid_input")
        evil = io.BytesIO()
        with tarfile.open(fileobj=evil, mode="w:gz") as tar:
            info = tarfile.TarInfo("../../etc/x")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        _error(ana.post(f"/v1/users/{other}/import", content=evil.getvalue()), 400,
               "invalid_input")
        _error(ana.get(f"/v1/users/{name}/export"), 404, "not_found")
        # MemStore install over HTTP: a dry run, the install, then the second one meets it.
        gz = {"content-type": "application/octet-stream"}
        dry = ana.post("/v1/bundles/install", params={"dry_run": True},
                       content=exported.content, headers=gz)
        assert dry.status_code == 200, dry.text
        assert dry.json()["dry_run"] and len(dry.json()["created"]) == 1
        done = ana.post("/v1/bundles/install", content=exported.content, headers=gz).json()
        assert done["created"] == dry.json()["created"] and done["versions_written"] == 1
        again = ana.post("/v1/bundles/install", params={"on_conflict": "fail"},
                         content=exported.content, headers=gz).json()
        assert again["created"] == [] and list(again["skipped"].values()) == [
            "already installed"]
        _error(ana.post("/v1/bundles/install", params={"on_conflict": "merge"},
                        content=exported.content, headers=gz), 422, "invalid_request")
        reader = f"user:{_name('sub')}"
        pub = ana.post("/v1/bundles/publish", params={"name": _name("cello"),
                                                      "subscriber": [reader]},
                       content=exported.content, headers=gz)
        assert pub.status_code == 201, pub.text
        assert pub.json()["scope"].startswith("scope:shared:cello")
    with client(url, make_key(neo4j_settings, reader)) as sub:
        hit = sub.post("/v1/search", json={"query": "cello"}).json()["hits"][0]["cube"]
        assert hit["meta"]["scope"] == pub.json()["scope"]
        _error(sub.patch(f"/v1/memories/{hit['meta']['id']}", json={"text": "no"}), 403,
               "forbidden")


def test_sharing_endpoints(url: str, maya: tuple[str, httpx.Client],
                           neo4j_settings: Settings) -> None:
    _, c = maya
    team = _name("team")
    bot = f"agent:{_name('bot')}"
    scope = c.post("/v1/groups", json={"name": team}).json()["scope"]
    assert scope == f"scope:group:{team}"
    assert c.post(f"/v1/groups/{team}/invitations", json={"member": bot}).status_code == 201
    with client(url, make_key(neo4j_settings, bot)) as b:
        assert scope not in b.get("/v1/scopes").json()["scopes"]
        assert b.post(f"/v1/groups/{team}/accept").json()["scope"] == scope
        assert scope in b.get("/v1/scopes").json()["scopes"]
        _error(b.post(f"/v1/groups/{_name('nogroup')}/accept"), 404, "not_found")
        _error(b.post(f"/v1/groups/{team}/invitations", json={"member": "user:x"}), 403,
               "forbidden")
    shared = c.post("/v1/scopes", json={"name": _name("kb")})
    assert shared.status_code == 201 and shared.json()["scope"].startswith("scope:shared:")
    assert c.post("/v1/grants/revoke", json={"scope": scope, "principal": bot}).json() == {
        "ok": True}
    _error(c.post("/v1/grants", json={"scope": "scope:shared:notmine", "principal": bot}),
           403, "forbidden")


def test_readiness_follows_neo4j(neo4j_settings: Settings,
                                 embedder: SentenceTransformerEmbedder) -> None:
    """Neo4j 'goes down' behind a proxy: /readyz answers 503 (a structured body, fast), data
    calls 503 store_unavailable, and both recover by themselves once it is back."""
    key = make_key(neo4j_settings, f"user:{_name('ops')}")
    from urllib.parse import urlparse

    proxy = CuttableProxy(urlparse(neo4j_settings.neo4j_uri).port or 7687)
    settings = neo4j_settings.model_copy(update={
        "neo4j_uri": f"bolt://127.0.0.1:{proxy.port}", "neo4j_connect_timeout_s": 1.0})
    settings.serve = settings.serve.model_copy(update={"ready_timeout_s": 3.0})
    try:
        proxy.cut_after(0)  # down before the server starts: it starts anyway, not ready
        with server_thread(settings, embedder) as base, client(base, key) as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/readyz").status_code == 503
            proxy.restore()
            for _ in range(20):
                if c.get("/readyz").status_code == 200:
                    break
            assert c.get("/readyz").status_code == 200
            proxy.cut_after(0)
            c.get("/readyz")  # the cut lands on the first packet after it
            down = c.get("/readyz")
            assert down.status_code == 503 and down.json()["status"] == "unavailable"
            assert down.elapsed.total_seconds() < 5
            _error(c.get("/v1/whoami"), 503, "store_unavailable")
            assert c.get("/healthz").status_code == 200  # alive all along
            proxy.restore()
            for _ in range(20):
                if c.get("/readyz").status_code == 200:
                    break
            assert c.get("/readyz").status_code == 200
            assert c.get("/v1/whoami").status_code == 200
    finally:
        proxy.close()


def test_cors_is_off_by_default_and_on_when_configured(
        url: str, neo4j_settings: Settings, embedder: SentenceTransformerEmbedder) -> None:
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with client(url) as c:
        assert "access-control-allow-origin" not in c.options("/v1/search", headers=pre).headers
    settings = neo4j_settings.model_copy()
    settings.serve = settings.serve.model_copy(update={"cors_origins": ["https://app.example"]})
    with server_thread(settings, embedder) as base, client(base) as c:
        r = c.options("/v1/search", headers=pre)
        assert r.headers["access-control-allow-origin"] == "https://app.example"


def test_times_neo4j_cannot_store_are_invalid_input(mem: GraphMem, uid: str) -> None:
    with pytest.raises(InvalidInput, match="18:00"):
        mem.add([{"role": "user", "content": "hi", "timestamp": "2030-01-01T00:00:00+19:06"}],
                user_id=uid)
    with pytest.raises(InvalidInput, match="18:00"):
        mem.remember("x", user_id=uid, expires=datetime(2030, 1, 1, tzinfo=timezone(
            timedelta(hours=-19))))
    assert mem.list(user_id=uid) == []
    ok = mem.add([{"role": "user", "content": "hi there", "timestamp":
                   "2030-01-01T00:00:00+14:00"}], user_id=uid, infer=False)
    assert ok.episodes_written == 1
