"""The MCP server through the SDK's own client: streamable HTTP at /mcp of the REST server
(behind the API keys) and stdio (`graphmem mcp` as a subprocess)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from graphmem.embeddings import SentenceTransformerEmbedder
from graphmem.settings import Settings
from tests.servers import ROOT, client, make_key, server_thread
from tests.test_extractors_llm import Script, server  # noqa: F401  (fixture)

TOOLS = {"add", "search", "get", "history", "update", "delete", "chat"}


@pytest.fixture
def url(neo4j_settings: Settings, embedder: SentenceTransformerEmbedder,
        server: tuple[str, Script]) -> Iterator[tuple[str, Script]]:  # noqa: F811
    llm_url, script = server
    settings = neo4j_settings.model_copy(update={
        "extractor": "offline", "llm_base_url": llm_url, "llm_model": "scripted-model"})
    with server_thread(settings, embedder) as base:
        yield base, script


def _http(url: str, key: str) -> Client:
    return Client(streamable_http_client(
        f"{url}/mcp", http_client=httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"},
                                                     timeout=60)))


def _sse(c: httpx.Client, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """POST /v1/chat/stream and parse its server-sent events."""
    import json

    out: list[tuple[str, Any]] = []
    with c.stream("POST", "/v1/chat/stream", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith(
            "text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                out.append((str(event), json.loads(line[len("data: "):])))
    return out


async def _call(c: Client, tool: str, **args: Any) -> Any:
    result = await c.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


def test_mcp_over_http_behind_the_keys(url: tuple[str, Script],
                                       neo4j_settings: Settings) -> None:
    base, script = url
    name = f"m{uuid.uuid4().hex[:8]}"
    key = make_key(neo4j_settings, f"user:{name}")

    async def session() -> None:
        async with _http(base, key) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) >= TOOLS
            schema = tools["search"].input_schema
            assert "query" in schema["required"] and schema["properties"]["limit"]["maximum"]
            added = await _call(c, "add", messages="I keep bees on my roof in Lyon.",
                                infer=False)
            assert added["user_id"] == name and added["cubes"]
            cid = added["cubes"][0]["meta"]["id"]
            hits = (await _call(c, "search", query="beekeeping", limit=3))["hits"]
            assert hits[0]["cube"]["meta"]["id"] == cid
            assert (await _call(c, "get", cube_id=cid))["meta"]["owner"] == name
            new = await _call(c, "update", cube_id=cid, text="I keep bees on my roof in Lyon "
                              "and sell the honey.", expected_version=1)
            assert new["meta"]["version"] == 2
            versions = (await _call(c, "history", cube_id=cid))["versions"]
            assert [v["meta"]["version"] for v in versions] == [1, 2]
            script.completion("You keep bees in Lyon.")
            answer = await _call(c, "chat", message="What do I keep on my roof?",
                                 remember=False)
            assert answer["answer"] == "You keep bees in Lyon."
            assert cid in {m["id"] for m in answer["memories"]}
            assert (await _call(c, "delete", cube_id=cid))["meta"]["status"] == "archived"
            missing = await c.call_tool("get", {"cube_id": "cube_nope"})
            assert missing.is_error and "not_found" in str(missing.content)
            bad = await c.call_tool("search", {"query": "x", "limit": 10_000})
            assert bad.is_error

    anyio.run(session)
    # The same chat over REST.
    with client(base, key) as c:
        c.post("/v1/memories", json={"text": "My bees live on the roof in Lyon."})
        script.completion("On your roof in Lyon.")
        answer = c.post("/v1/chat", json={"messages": [
            {"role": "user", "content": "Where are my bees?"}], "remember": False})
        assert answer.status_code == 200, answer.text
        assert answer.json()["answer"] == "On your roof in Lyon."
        assert answer.json()["model"] == "scripted-model"
        assert "roof" in script.requests[-1]["messages"][0]["content"]
        script.error(500, "model crashed")
        script.error(500, "model crashed")
        script.error(500, "model crashed")
        failed = c.post("/v1/chat", json={"messages": "Where are my bees?", "remember": False})
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"]["reason"] == "model_unavailable"
        # Streamed as server-sent events: the pieces as they come, then the answer.
        script.streamed(["On your ", "roof ", "in Lyon."], usage=(80, 4))
        events = _sse(c, {"messages": "Where are my bees?", "remember": False})
        assert [e for e, _ in events] == ["token", "token", "token", "answer"]
        assert "".join(d["text"] for e, d in events if e == "token") == "On your roof in Lyon."
        assert events[-1][1]["answer"] == "On your roof in Lyon."
        assert events[-1][1]["tokens_out"] == 4 and events[-1][1]["memories"]
        for _ in range(3):
            script.error(500, "model crashed")
        events = _sse(c, {"messages": "Where are my bees?", "remember": False})
        assert events[-1][0] == "error"
        assert events[-1][1]["error"]["reason"] == "model_unavailable"
        bad = c.post("/v1/chat/stream", json={"messages": [{"role": "assistant",
                                                            "content": "no question"}]})
        assert bad.status_code == 400 and bad.json()["error"]["reason"] == "invalid_input"
    # No key, or a revoked one: the REST API's 401 before any MCP.
    r = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 401 and r.json()["error"]["reason"] == "unauthorized"
    with client(base, key) as c:
        c.delete(f"/v1/keys/{c.get('/v1/whoami').json()['key_id']}")
    r = httpx.post(f"{base}/mcp", headers={"Authorization": f"Bearer {key}"},
                   json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 401


def test_mcp_over_stdio(neo4j_settings: Settings) -> None:
    name = f"s{uuid.uuid4().hex[:8]}"
    key = make_key(neo4j_settings, f"agent:{name}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAPHMEM_API_KEY": key,
           "GRAPHMEM_NEO4J_URI": neo4j_settings.neo4j_uri, "GRAPHMEM_EXTRACTOR": "offline"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "graphmem", "mcp"],
                                   env=env, cwd=str(ROOT))

    async def session() -> None:
        async with Client(params, read_timeout_seconds=120) as c:
            assert {t.name for t in (await c.list_tools()).tools} >= TOOLS
            cube = (await _call(c, "add", messages="Agent note: the Lyon venue has step-free "
                                "access.", infer=False))["cubes"][0]
            assert cube["meta"]["owner"] == name
            assert cube["meta"]["provenance"]["created_by"] == f"agent:{name}"
            hits = (await _call(c, "search", query="wheelchair access venue"))["hits"]
            assert hits[0]["cube"]["meta"]["id"] == cube["meta"]["id"]

    anyio.run(session)
